"""Round trip through a loopback Hub-compatible server (real HTTP): publish pushes one private commit,
then `load_dataset("<user>/<name>")` with HF_ENDPOINT pointing at the server returns the same rows.
The token never appears in the pushed files or in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

from hub_server import HubServer
from test_publish import build_inputs

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_loopbackSECRET0123456789abcdef"
LOAD = """
import json, sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1])
print(json.dumps({s: {"rows": d.to_pandas().to_dict("records"), "labels": d.features["llm_label"].names}
                  for s, d in ds.items()}, default=str))
"""


def hub_env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PYTHONPATH": str(REPO), **extra})
    return env


def run_py(args, cwd, env):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_publish_push_then_load_dataset_round_trip(tmp_path):
    build_inputs(tmp_path)
    with HubServer(token=TOKEN, user="tester") as hub:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["publish"].update(push=True, repo_id="tester/melt-demo", endpoint=hub.url)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        pushed = run_py([str(REPO / "stages/publish.py")], tmp_path, hub_env(tmp_path, HF_TOKEN=TOKEN))
        assert "pushed tester/melt-demo (private)" in pushed.stdout

        repo = hub.repos["dataset", "tester/melt-demo"]
        assert repo.private and len(repo.commits) == 1 and repo.commits[0]["title"] == "Publish MELT dataset"
        local = tmp_path / "data/hub"
        local_files = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
        assert repo.files == local_files                          # byte-identical, one commit
        assert {p for p in repo.lfs} == {f"data/{s}.parquet" for s in ("train", "validation", "test")}  # via Git LFS

        loaded = run_py(["-c", LOAD, "tester/melt-demo"], tmp_path,
                        hub_env(tmp_path, HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-fresh")))
        remote = json.loads(loaded.stdout.strip().splitlines()[-1])
        expected = load_dataset(str(local), cache_dir=str(tmp_path / "hf-local"))
        for split, ds in expected.items():
            assert remote[split]["labels"] == ds.features["llm_label"].names
            assert remote[split]["rows"] == json.loads(json.dumps(ds.to_pandas().to_dict("records"), default=str))

        # private: without the token the repository is not visible
        anonymous = subprocess.run([sys.executable, "-c", LOAD, "tester/melt-demo"], cwd=tmp_path, capture_output=True,
                                   text=True, env=hub_env(tmp_path, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-anon")))
        assert anonymous.returncode != 0

    assert any(r.startswith("POST /datasets/tester/melt-demo.git/info/lfs/objects/batch") for r in hub.requests)
    for text in (pushed.stdout, pushed.stderr, loaded.stdout, loaded.stderr, anonymous.stdout, anonymous.stderr,
                 "\n".join(hub.requests)):
        assert TOKEN not in text
    # nowhere on disk either: not in data/hub, params.yaml, nor the HF caches of the three runs
    for content in [*repo.files.values(), *(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())]:
        assert TOKEN.encode() not in content

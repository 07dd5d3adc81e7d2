"""`melt-annotate`: a prompt file through the engine against the loopback server (real HTTP, a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from llm_server import Faults, LLMServer

ROOT = Path(__file__).resolve().parents[1]


def cli(tmp_path, srv, *extra, input="in.jsonl", env=None):
    cmd = [sys.executable, "-m", "melt.annotate.cli", "--input", str(tmp_path / input), "--output",
           str(tmp_path / "out.jsonl"), "--base-url", srv.base_url, "--model", "m1", "--store",
           str(tmp_path / "store"), "--max-retries", "1", *extra]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=120)


def write_lines(path: Path, objs) -> None:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))


PROMPTS = [{"id": f"u{i}", "prompt": f"ana at s1e2 said: line {i}"} for i in range(7)] + \
          [{"id": 7, "messages": [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "ben at s1e2 said: hi there"}]}]


def test_answers_in_input_order_from_the_store_on_a_rerun(tmp_path):
    write_lines(tmp_path / "in.jsonl", PROMPTS)
    with LLMServer(Faults(latency_s=0.02, seed=3)) as srv:
        secret = "sk-cli-secret-123456"
        done = cli(tmp_path, srv, "--concurrency", "4", "--api-key-env", "MY_KEY", env={"MY_KEY": secret})
        assert done.returncode == 0, done.stderr
        assert srv.chat_requests == 8 and srv.authorizations == {f"Bearer {secret}"}
        first = (tmp_path / "out.jsonl").read_bytes()
        again = cli(tmp_path, srv, env={"MY_KEY": secret})
        assert again.returncode == 0 and srv.chat_requests == 8   # every answer from the store
        assert json.loads(again.stderr.strip().splitlines()[-1])["answered_from_store"] == 8
    assert (tmp_path / "out.jsonl").read_bytes() == first
    out = [json.loads(line) for line in first.decode().splitlines()]
    assert [o["id"] for o in out] == [p["id"] for p in PROMPTS]
    for o, p in zip(out, PROMPTS):   # the server's answer to exactly that body (seed 0)
        messages = p.get("messages") or [{"role": "user", "content": p["prompt"]}]
        expected = LLMServer.answer_for({"messages": messages, "seed": 0}, "ok")
        assert o == {"id": p["id"], "content": expected, "parsed": json.loads(expected), "error": None}
    stored = b"".join(f.read_bytes() for f in (tmp_path / "store").iterdir())
    assert secret.encode() not in stored + first


def test_failed_requests_are_reported_with_their_reason(tmp_path):
    write_lines(tmp_path / "in.jsonl", PROMPTS[:3])
    with LLMServer(Faults(script=["ok", "500", "500"])) as srv:
        done = cli(tmp_path, srv, "--concurrency", "1")
        assert srv.chat_requests == 4
    assert done.returncode == 1
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["error"] is None for o in out] == [True, False, True]
    assert out[1]["content"] is None and "gave up after 2 attempts; last: HTTP 500" in out[1]["error"]


def test_a_bad_line_names_file_and_line(tmp_path, capsys):
    from melt.annotate.cli import main

    (tmp_path / "in.jsonl").write_text('{"id": 1, "prompt": "a"}\n{"id": 2}\n')
    (tmp_path / "dup.jsonl").write_text('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n')
    with LLMServer() as srv:
        common = ["--output", str(tmp_path / "out.jsonl"), "--base-url", srv.base_url, "--model", "m1",
                  "--store", str(tmp_path / "store")]
        assert main(["--input", str(tmp_path / "in.jsonl"), *common]) == 2
        bad = capsys.readouterr().err
        assert main(["--input", str(tmp_path / "dup.jsonl"), *common]) == 2
        dup = capsys.readouterr().err
        assert srv.chat_requests == 0
    assert f"{tmp_path / 'in.jsonl'}: line 2 (id 2): needs a string \"prompt\"" in bad
    assert "line 2: duplicate id 1" in dup
    assert not (tmp_path / "out.jsonl").exists()


def test_the_command_is_a_project_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["melt-annotate"] == "melt.annotate.cli:main"

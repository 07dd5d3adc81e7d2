"""`compute.engine: ray` gives the local engine's bytes: `acoustics`, `features@egemaps`, `erc_embed` (text and
audio) and `transcribe` (a tiny random Whisper) on a local Ray cluster (2 CPUs, loopback only, started once here);
a worker process that dies mid-stage costs only its batch (Ray restarts it, the output is complete and identical);
a `compute.ray_address` where nothing listens fails fast, naming the param.

Identical output trees (every file's bytes) mean identical DVC hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from melt.compute.params import ActorResources, ComputeParams

# one xdist worker runs the module (addopts --dist loadgroup): one local Ray cluster, not one per worker
pytestmark = pytest.mark.xdist_group("ray")

REPO = Path(__file__).resolve().parents[1]
LOCAL = ComputeParams()
# Two actors for everything: the batches spread over both, in whatever order they finish.
RAY = ComputeParams(engine="ray", **{stage: ActorResources(actors=2, batch_size=2)
                                     for stage in ("transcribe", "features", "acoustics", "erc_embed")})


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ray_cluster():
    import ray.cloudpickle

    from melt.compute.cluster import connect, disconnect
    from melt.reproducible import configure_torch

    configure_torch()   # as every stage script does first: the local runs here are the driver's numerics
    connect(None, num_cpus=2)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the test's model class, for the actors
    yield
    disconnect()


def run_acoustics(root: Path, compute: ComputeParams) -> dict[str, bytes]:
    from melt.acoustics.params import AcousticsParams
    from melt.acoustics.run import run

    out = root / ("ray" if compute.engine == "ray" else "local")
    run(AcousticsParams(cache_dir=None), root / "prepared", root / "melt", features_path=out / "egemaps.parquet",
        out_dir=out / "acoustics", metrics_path=out / "metrics.json", report_path=out / "report.json",
        plots_dir=out / "plots", compute=compute, progress=False)
    return tree(out)


@pytest.fixture(scope="module")
def acoustics_corpus(tmp_path_factory):
    from test_acoustics import add_bad_rows, write_corpus

    root = tmp_path_factory.mktemp("ray-acoustics")
    write_corpus(root, {"low": 110.0, "mid": 180.0, "high": 300.0}, {"low": 0.02, "mid": 0.08, "high": 0.35},
                 {"ana": 1.0}, n_per_split=3)
    add_bad_rows(root)   # no audio, silent, corrupt: failure rows must match too
    return root, run_acoustics(root, LOCAL)


@pytest.mark.slow   # one Ray start for the module (~5 s) and actor starts (3-6 s each) on 2 shared cores
def test_acoustics_and_features_on_ray_equal_local(ray_cluster, acoustics_corpus, tmp_path):
    from test_ser import make_data

    from melt.ser.features import extract_features
    from melt.ser.params import SerParams

    root, local = acoustics_corpus
    assert run_acoustics(root, RAY) == local

    data = make_data(tmp_path / "ser", per_class=1)
    outs = {}
    for name, compute in (("local", LOCAL), ("ray", RAY)):
        ser = SerParams(eval_corpora=("acted",), corpora={"acted": {"path": str(data["acted"])}}, device="cpu",
                        feature_cache_dir=str(tmp_path / f"store-{name}"))
        info = extract_features(ser, "egemaps", data["prepared"], tmp_path / name, compute=compute, progress=False)
        assert info["vectors_extracted"] == info["vectors_needed"] > 0
        outs[name] = tree(tmp_path / name)
    assert outs["ray"] == outs["local"]


@pytest.mark.slow
def test_erc_embed_on_ray_equals_local(ray_cluster, tmp_path):
    from erc_helpers import WORDS, meld_corpus, tiny_text_model

    from melt.erc.data import build_tables
    from melt.erc.embed import embed_turns
    from melt.erc.params import ErcParams
    from melt.ser.params import SerParams

    paths = meld_corpus(tmp_path, {"train": 2, "dev": 1, "test": 1}, missing_audio="test/dia0_utt1")
    tiny_text_model(tmp_path / "text-model", [f"{w} number {u}" for w in WORDS.values() for u in range(5)])
    base = ErcParams(datasets={"demo": "meld"}, text_model=str(tmp_path / "text-model"))
    build_tables(base, "demo", {}, paths["prepared"], paths["melt"], tmp_path / "erc")
    outs = {}
    for name, compute in (("local", LOCAL), ("ray", RAY)):
        erc = base.model_copy(update={"embedding_cache_dir": tmp_path / f"erc-store-{name}"})
        ser = SerParams(eval_corpora=(), device="cpu", feature_cache_dir=str(tmp_path / f"ser-store-{name}"))
        for modality in ("text", "audio"):
            info = embed_turns(modality, erc, ser, tmp_path / "erc", tmp_path / name / modality, compute=compute,
                               progress=False)
            assert info["vectors_computed"] == info["vectors_needed"] > 0
        outs[name] = tree(tmp_path / name)
    assert outs["ray"] == outs["local"]
    assert "failed" in (tmp_path / "ray" / "audio" / "index.csv").read_text()   # the turn without audio


@pytest.mark.slow
def test_transcribe_on_ray_equals_local(ray_cluster, tmp_path):
    from pretrain_helpers import tiny_whisper, tone, write_audio

    from melt.pretrain.params import AsrParams, PretrainParams
    from melt.pretrain.transcribe import transcribe_corpus

    whisper = tiny_whisper(tmp_path / "whisper")
    corpus = tmp_path / "corpus"
    for i in range(5):
        write_audio(corpus / f"clip{i}.wav", tone(1.0 + 0.5 * i, 150 + 60 * i))
    write_audio(corpus / "silent.wav", tone(1.0, amplitude=0.0))   # excluded the same way on both engines
    outs = {}
    for name, compute in (("local", LOCAL), ("ray", RAY)):
        asr = AsrParams(backend="whisper", model=str(whisper), max_new_tokens=8, batch_size=2, device="auto",
                        cache_dir=str(tmp_path / f"store-{name}"))
        summary = transcribe_corpus(PretrainParams(corpus={"name": "folder", "path": corpus}), asr,
                                    tmp_path / name / "out", tmp_path / name / "report", compute=compute)
        assert summary["transcribed"] == 5
        outs[name] = tree(tmp_path / name)
    assert outs["ray"] == outs["local"]


@pytest.mark.slow
def test_a_worker_killed_mid_stage_costs_only_its_batch(ray_cluster, acoustics_corpus, tmp_path, monkeypatch):
    """The eGeMAPS actor process exits on its second batch (as a preempted node's would); Ray restarts the actor
    and re-runs the lost batch. The marker file says it happened, once."""
    import melt.acoustics.extract
    from melt.compute.extractors import EgemapsModel

    marker = tmp_path / "killed"

    class DiesOnSecondBatch(EgemapsModel):
        calls = 0

        def __call__(self, signals):
            type(self).calls += 1
            if type(self).calls == 2 and not marker.exists():
                marker.touch()
                os._exit(1)   # the whole worker process, with its batch in flight
            return super().__call__(signals)

    monkeypatch.setattr(melt.acoustics.extract, "EgemapsModel", DiesOnSecondBatch)
    root, local = acoustics_corpus
    assert run_acoustics(root, RAY.model_copy(update={"acoustics": ActorResources(actors=1, batch_size=2)})) == local
    assert marker.exists()


@pytest.mark.parametrize("address", ["127.0.0.1:1", "no-port-here"])
def test_a_ray_address_where_nothing_listens_fails_naming_the_param(address, tmp_path):
    """In a fresh process (this module's cluster would otherwise be reused): a port where nothing listens, and an
    address that is not one. The timeout only guards against a hang."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(tmp_path)}
    env.pop("RAY_ADDRESS", None)
    code = f"from melt.compute.cluster import connect; connect({address!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert done.returncode != 0
    assert "ClusterError: compute.ray_address" in done.stderr

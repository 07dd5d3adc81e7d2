"""Registry: the MELT dataset declared in dvc.yaml `artifacts:` travels through a DVC remote byte-identically,
by `git clone` + `dvc pull` and by name with `dvc artifacts get`."""

from __future__ import annotations

import shutil

from conftest import run

SPLIT_FILES = ("train.csv", "dev.csv", "test.csv", "excluded.csv")


def test_push_clone_pull_gives_identical_melt_csvs(reproduced, tmp_path):
    origin = tmp_path / "origin"
    shutil.copytree(reproduced, origin, symlinks=True)   # a private copy: the shared fixture stays untouched
    store = tmp_path / "remote-store"
    run(["dvc", "remote", "add", "-d", "store", str(store)], origin)
    run(["git", "add", "dvc.lock", ".dvc/config"], origin)
    run(["git", "commit", "-q", "-m", "MELT dataset v1"], origin)
    run(["git", "tag", "-a", "melt-dataset@v1.0.0", "-m", "Registering artifact melt-dataset version v1.0.0"], origin)
    run(["dvc", "push", "derive"], origin)
    original = {name: (origin / "data/melt" / name).read_bytes() for name in SPLIT_FILES}
    assert all(original.values())

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / "data/melt").exists()
    run(["dvc", "pull", "derive"], clone)
    assert {name: (clone / "data/melt" / name).read_bytes() for name in SPLIT_FILES} == original

    got = tmp_path / "got"
    got.mkdir()
    out = run(["dvc", "artifacts", "get", str(origin), "melt-dataset", "-o", "melt"], got).stdout
    assert "Downloaded" in out
    assert {name: (got / "melt" / name).read_bytes() for name in SPLIT_FILES} == original

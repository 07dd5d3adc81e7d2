"""The `erc_embed@<modality>` stage: an embedding per turn of every dataset, through a shared store.

- `text`: `erc.text_model` (melt.erc.text), addressed by (model fingerprint, sha256 of the text), in the store
  `erc.embedding_cache_dir`;
- `audio`: `erc.speech_backbone` of the SER registry, per-layer means over the whole utterance (the SER
  evaluation policy), addressed by (backbone fingerprint, audio sha256) in the SER store `ser.feature_cache_dir`:
  vectors the `features@<backbone>` stage extracted for the same audio are reused, not recomputed.

Output `data/features/erc/<modality>/`: `index.csv` (dataset, item_id, sha256, vectors, status ok/failed, reason),
`info.json` (model, fingerprint, layers, dim, counts) and `store/` holding exactly the vectors the index refers
to. How many vectors were computed vs reused depends on the store's history: returned for the log, never written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from melt.compute.extractors import EgemapsModel, SslModel, as_vectors, egemaps_info
from melt.compute.params import ComputeParams
from melt.compute.registry import EGEMAPS
from melt.compute.runner import Failure, ModelSpec, run_model
from melt.compute.store import FULL, FeatureStore, materialize
from melt.erc.params import ErcParams
from melt.erc.table import MODALITIES, read_table
from melt.io import sha256_file, write_csv, write_json
from melt.repo import shared_path
from melt.ser.params import SerParams

INDEX_COLUMNS = ["dataset", "item_id", "sha256", "vectors", "status", "reason"]
TEXT_POLICY = "text"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _items(erc: ErcParams, tables_dir: str | Path) -> pd.DataFrame:
    frames = [read_table(tables_dir, d)[["dataset", "item_id", "text", "audio_path"]] for d in erc.datasets]
    return pd.concat(frames, ignore_index=True)


def embed_turns(modality: str, erc: ErcParams, ser: SerParams, tables_dir: str | Path, out_dir: str | Path,
                compute: ComputeParams | None = None, progress: bool = True) -> dict:
    """Fill the store with what is missing (through melt.compute.runner, engine and actors from `compute`), write
    the output folder; returns info.json + this run's counters."""
    compute = compute or ComputeParams()
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r} (known: {', '.join(MODALITIES)})")
    out_dir = Path(out_dir)
    items = _items(erc, tables_dir)
    items["status"], items["reason"], items["sha256"] = "ok", None, None
    if modality == "text":
        computed, model = _embed_text(erc, items, out_dir, compute, progress)
    else:
        computed, model = _embed_audio(erc, ser, items, out_dir, compute, progress)
    store, fingerprint = model["store"], model["fingerprint"]
    policy = TEXT_POLICY if modality == "text" else FULL
    ok = items["status"] == "ok"
    items["vectors"] = [store.relpath(policy, s) if good else None for s, good in zip(items["sha256"], ok)]
    materialize(store, set(items["vectors"].dropna()), out_dir)
    write_csv(items[INDEX_COLUMNS], out_dir / "index.csv")
    first = items["vectors"].dropna()
    shape = np.load(out_dir / first.iloc[0]).shape if len(first) else (0, 0, 0)
    info = {"modality": modality, "model": model["name"], "fingerprint": fingerprint, "policy": policy,
            "layers": int(shape[1]), "dim": int(shape[2]), "items": len(items),
            "status": {s: int((items["status"] == s).sum()) for s in ("ok", "failed")}}
    write_json(out_dir / "info.json", info)
    needed = items[ok].drop_duplicates("sha256")
    return {**info, "vectors_needed": len(needed), "vectors_computed": computed,
            "vectors_reused": len(needed) - computed}


def _embed_text(erc: ErcParams, items: pd.DataFrame, out_dir: Path, compute: ComputeParams,
                progress: bool) -> tuple[int, dict]:
    from melt.erc.text import TextModel

    kwargs = {"model_id": erc.text_model, "revision": erc.text_revision, "max_length": erc.text_max_length,
              "device": erc.device}
    local = TextModel(**kwargs)   # here for its fingerprint (it names the store folder); the local engine reuses it
    root = out_dir if erc.embedding_cache_dir is None else shared_path(erc.embedding_cache_dir, "cache/erc-embeddings")
    store = FeatureStore(root, local.info["key"])
    for i, text in zip(items.index, items["text"]):
        if not isinstance(text, str) or not text.strip():
            items.loc[i, ["status", "reason"]] = ["failed", "empty text"]
        else:
            items.at[i, "sha256"] = text_sha256(text)
    todo = items[items["status"] == "ok"].drop_duplicates("sha256")
    todo = todo[[not store.has(TEXT_POLICY, s) for s in todo["sha256"]]]
    run_model(ModelSpec(TextModel, kwargs), list(zip(todo["sha256"], todo["text"])),
              lambda sha, vectors: store.put(TEXT_POLICY, sha, vectors), compute, compute.erc_embed,
              desc="text embeddings", progress=progress, local_model=local)
    name = {"id": erc.text_model, "revision": erc.text_revision, "max_length": erc.text_max_length}
    return len(todo), {"store": store, "fingerprint": local.info, "name": name}


def _embed_audio(erc: ErcParams, ser: SerParams, items: pd.DataFrame, out_dir: Path, compute: ComputeParams,
                 progress: bool) -> tuple[int, dict]:
    spec = ser.backbone_spec(erc.speech_backbone)
    for i, path in zip(items.index, items["audio_path"]):
        if not isinstance(path, str) or not path:
            items.loc[i, ["status", "reason"]] = ["failed", "audio missing: no audio path"]
            continue
        try:
            items.at[i, "sha256"] = sha256_file(path)
        except OSError as err:
            items.loc[i, ["status", "reason"]] = ["failed", f"audio missing or unreadable: {err}"]
    is_egemaps = spec.id == EGEMAPS
    local = None if is_egemaps else SslModel(spec, device=erc.device, device_param="erc.device")
    fingerprint = egemaps_info() if is_egemaps else local.extractor.info
    root = out_dir if ser.feature_cache_dir is None else shared_path(ser.feature_cache_dir, "cache/ser-features")
    store = FeatureStore(root, fingerprint["key"])
    todo = items[items["status"] == "ok"].drop_duplicates("sha256")
    todo = todo[[not store.has(FULL, s) for s in todo["sha256"]]]
    if is_egemaps:
        model = ModelSpec(EgemapsModel)
        jobs = list(zip(todo["sha256"], todo["audio_path"]))
    else:
        model = ModelSpec(SslModel, {"spec": spec, "device": erc.device, "device_param": "erc.device"})
        jobs = [(sha, {"path": path, "sha": sha, "policy": FULL, "crop_samples": 0, "crops": 1,
                       "label": erc.speech_backbone}) for sha, path in zip(todo["sha256"], todo["audio_path"])]
    failed: dict[str, str] = {}

    def keep(sha: str, result) -> None:
        if isinstance(result, Failure):
            failed[sha] = f"egemaps: {result.reason}" if is_egemaps else result.reason
        else:
            store.put(FULL, sha, as_vectors(result) if is_egemaps else result)

    run_model(model, jobs, keep, compute, compute.erc_embed, desc=f"{erc.speech_backbone} embeddings",
              progress=progress, local_model=local)
    for i, sha in zip(items.index, items["sha256"]):
        if sha in failed:
            items.loc[i, ["status", "reason"]] = ["failed", failed[sha]]
    name = {"backbone": erc.speech_backbone, "spec": spec.model_dump()}
    return len(todo) - len(failed), {"store": store, "fingerprint": fingerprint, "name": name}

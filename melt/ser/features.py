"""The `features` stage: pooled backbone features for every utterance the SER stages need, via the cache.

Items: the prepared MELD-format splits (`data/prepared/{train,dev,test}.csv`) and the evaluation corpora.
Training utterances (split `train`) get the crop policy (up to `train_crops` seeded `crop_s` windows; a
shorter utterance is used whole, unpadded); everything else is pooled over the whole utterance. The eGeMAPS
backbone has no frames to crop: its 88 functionals of the whole utterance are its single "layer".
Vectors are computed once into the shared store (`ser.feature_cache_dir`, see melt.compute.store). Output folder:
`store/` (exactly the vectors the index refers to), `index.csv` (one row per item with status and reason),
`info.json` (backbone fingerprint, crop policy, layer count and size, item counts per status). How many vectors
were extracted vs reused depends on the store's history, not on the inputs: it is returned (and logged by the
stage), never written to the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from melt.compute.extractors import EgemapsModel, SslModel, as_vectors, egemaps_info
from melt.compute.params import ComputeParams
from melt.compute.registry import EGEMAPS
from melt.compute.runner import Failure, ModelSpec, run_model
from melt.compute.store import FULL, FeatureStore, crop_policy, materialize
from melt.data.audio import SAMPLE_RATE
from melt.data.corpora import read_corpus
from melt.io import sha256_file, write_csv, write_json
from melt.repo import shared_path
from melt.ser.params import SerParams

SPLITS = ("train", "dev", "test")
INDEX_COLUMNS = ["set", "item_id", "split", "dialogue_id", "utterance_id", "audio_path", "speaker", "emotion",
                 "audio_sha256", "policy", "vectors", "status", "reason"]


def read_feature_info(features_dir: str | Path, backbone: str) -> tuple[dict, pd.DataFrame]:
    """info.json and index.csv of a features output; errors name the file."""
    features_dir = Path(features_dir)
    info_path = features_dir / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path}: missing (run the features stage for backbone {backbone!r})")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info["backbone"] != backbone:
        raise ValueError(f"{info_path}: features of backbone {info['backbone']!r}, expected {backbone!r}")
    return info, pd.read_csv(features_dir / "index.csv", dtype={"item_id": str})


def melt_item_id(dialogue_id, utterance_id) -> str:
    return f"dia{int(dialogue_id)}_utt{int(utterance_id)}"


def collect_items(prepared_dir: str | Path, ser: SerParams) -> pd.DataFrame:
    """Prepared split rows and evaluation-corpus items, one row each, before hashing."""
    frames = []
    for split in SPLITS:
        path = Path(prepared_dir) / f"{split}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run the prepare stage first)")
        df = pd.read_csv(path, usecols=["split", "dialogue_id", "utterance_id", "audio_path", "Speaker"])
        if df["audio_path"].isna().any():
            row = int(df.index[df["audio_path"].isna()][0]) + 2
            raise ValueError(f"{path}: row {row}: no audio_path (SER needs the audio)")
        frames.append(pd.DataFrame({
            "set": split, "item_id": [melt_item_id(d, u) for d, u in zip(df["dialogue_id"], df["utterance_id"])],
            "split": split, "dialogue_id": df["dialogue_id"], "utterance_id": df["utterance_id"],
            "audio_path": df["audio_path"], "speaker": df["Speaker"], "emotion": None, "reason": None}))
    for name in ser.eval_corpora:
        corpus = read_corpus(name, getattr(ser.corpora, name).path)
        frames.append(pd.DataFrame({"set": name, "item_id": corpus["item_id"], "split": None, "dialogue_id": None,
                                    "utterance_id": None, "audio_path": corpus["audio_path"],
                                    "speaker": corpus["speaker"], "emotion": corpus["emotion"],
                                    "reason": corpus["reason"]}))
    return pd.concat(frames, ignore_index=True)


def extract_features(ser: SerParams, backbone: str, prepared_dir: str | Path, out_dir: str | Path,
                     compute: ComputeParams | None = None, progress: bool = True) -> dict:
    """Fill the store for every needed (policy, audio) pair not in it yet (through melt.compute.runner, engine and
    actors from `compute`); write the output folder.

    Returns info.json's content plus this run's counters (vectors needed / extracted / reused / failed)."""
    compute = compute or ComputeParams()
    spec = ser.backbone_spec(backbone)
    out_dir = Path(out_dir)
    items = collect_items(prepared_dir, ser)

    is_egemaps = spec.id == EGEMAPS
    # The backbone is loaded here for its fingerprint (it names the store folder); the local engine reuses it.
    local = None if is_egemaps else SslModel(spec, device=ser.device, device_param="ser.device")
    fingerprint = egemaps_info() if is_egemaps else local.extractor.info
    train_policy = FULL if is_egemaps else crop_policy(ser.crop_s, ser.train_crops)
    store_root = out_dir if ser.feature_cache_dir is None else shared_path(ser.feature_cache_dir,
                                                                           "cache/ser-features")
    store = FeatureStore(store_root, fingerprint["key"])

    items["status"] = np.where(items["reason"].isna(), "ok", "excluded")
    items["policy"] = np.where(items["set"] == "train", train_policy, FULL)
    items["audio_sha256"] = None
    for i in tqdm(items.index[items["status"] == "ok"], desc="hashing audio", unit="file", disable=not progress):
        try:
            items.at[i, "audio_sha256"] = sha256_file(items.at[i, "audio_path"])
        except OSError as err:
            items.loc[i, ["status", "reason"]] = ["failed", f"audio missing or unreadable: {err}"]

    ok = items["status"] == "ok"
    jobs = items[ok].drop_duplicates(["policy", "audio_sha256"])
    missing = jobs[[not store.has(p, s) for p, s in zip(jobs["policy"], jobs["audio_sha256"])]]
    if ser.finetune:  # fine-tuning reads the audio itself: index the items, extract nothing
        missing = missing.iloc[0:0]
    failed: dict[tuple[str, str], str] = {}
    crop_samples = int(round(ser.crop_s * SAMPLE_RATE))
    if is_egemaps:
        model = ModelSpec(EgemapsModel)
        todo = [((p, s), path) for path, s, p in zip(missing["audio_path"], missing["audio_sha256"], missing["policy"])]
    else:
        model = ModelSpec(SslModel, {"spec": spec, "device": ser.device, "device_param": "ser.device"})
        todo = [((p, s), {"path": path, "sha": s, "policy": p, "crop_samples": crop_samples, "crops": ser.train_crops,
                          "label": backbone})
                for path, s, p in zip(missing["audio_path"], missing["audio_sha256"], missing["policy"])]

    def keep(key: tuple[str, str], result) -> None:
        if isinstance(result, Failure):
            failed[key] = f"egemaps: {result.reason}" if is_egemaps else result.reason
        else:
            store.put(*key, as_vectors(result) if is_egemaps else result)

    run_model(model, todo, keep, compute, compute.features, desc=f"{backbone} features", progress=progress,
              local_model=local)

    for i in items.index[ok & (not ser.finetune)]:
        key = (items.at[i, "policy"], items.at[i, "audio_sha256"])
        if key in failed or not store.has(*key):
            items.loc[i, ["status", "reason"]] = ["failed", failed.get(key, "no vector in the store after extraction")]
    items["vectors"] = [store.relpath(p, s) if st == "ok" and not ser.finetune else None
                        for p, s, st in zip(items["policy"], items["audio_sha256"], items["status"])]
    materialize(store, set(items["vectors"].dropna()), out_dir)
    write_csv(items[INDEX_COLUMNS], out_dir / "index.csv")

    first = items[items["vectors"].notna()]
    if ser.finetune:
        config = local.extractor.model.config
        shape = (1, config.num_hidden_layers + 1, config.hidden_size)
    else:
        shape = np.load(out_dir / first["vectors"].iloc[0]).shape if len(first) else (0, 0, 0)
    info = {"backbone": backbone, "spec": spec.model_dump(), "fingerprint": fingerprint,
            "train_policy": train_policy, "eval_policy": FULL, "crop_s": ser.crop_s, "train_crops": ser.train_crops,
            "layers": int(shape[1]), "dim": int(shape[2]), "items": len(items),
            "status": {s: int((items["status"] == s).sum()) for s in ("ok", "excluded", "failed")}}
    write_json(out_dir / "info.json", info)
    return {**info, "vectors_needed": len(jobs), "vectors_extracted": len(missing) - len(failed),
            "vectors_reused": len(jobs) - len(missing), "vectors_failed": len(failed)}

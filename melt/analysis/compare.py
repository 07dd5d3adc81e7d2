"""Labels of a second annotation run (`analyze.compare_with`): annotations folder or MELT-layout CSV(s)."""

from __future__ import annotations

from pathlib import Path

from melt.analysis.annotations import read_annotations
from melt.analysis.layout import MeltCsvError, read_melt_csv
from melt.analysis.vote import majority_vote
from melt.data.labels import normalize_emotion

# (dialogue_id, utterance_id) → one of the 7 emotions, or None when the run gave no valid label
RunLabels = dict[tuple[int, int], str | None]
_CSV_KEYS = ("Dialogue_ID", "Utterance_ID", "llm_label")


def _from_annotations(path: Path, split: str) -> RunLabels:
    return {(d, u): majority_vote(answers).label for (_, d, u), answers in read_annotations(path, split).items()}


def _from_csv_rows(df, path: Path) -> RunLabels:
    out: RunLabels = {}
    # df keeps the file's index (also when filtered to one split), so row numbers are the file's data rows
    for i, d, u, lab in zip(df.index + 1, df["Dialogue_ID"], df["Utterance_ID"], df["llm_label"]):
        try:
            key = (int(d), int(u))
        except ValueError:
            raise MeltCsvError(f"{path}: row {i}: Dialogue_ID/Utterance_ID {d!r}/{u!r} are not integers") from None
        if key in out:
            raise MeltCsvError(f"{path}: row {i}: dia{key[0]}_utt{key[1]} appears twice")
        out[key] = normalize_emotion(lab)
    return out


def load_run(source: Path, splits: tuple[str, ...]) -> dict[str, RunLabels]:
    """Per split, the second run's label of each utterance (majority vote when it has several samples)."""
    source = Path(source)
    if source.is_file():
        df = read_melt_csv(source, (*_CSV_KEYS, "split"))
        return {s: _from_csv_rows(df[df["split"] == s], source) for s in splits}
    if not source.is_dir():
        raise FileNotFoundError(f"analyze.compare_with: {source} is neither a file nor a folder")
    runs = {}
    for split in splits:
        jsonl, csv = source / f"{split}.jsonl", source / f"{split}.csv"
        if jsonl.is_file():
            runs[split] = _from_annotations(jsonl, split)
        elif csv.is_file():
            runs[split] = _from_csv_rows(read_melt_csv(csv, _CSV_KEYS), csv)
        else:
            raise FileNotFoundError(f"analyze.compare_with: {source} has neither {split}.jsonl nor {split}.csv")
    return runs

"""Reading the annotate stage's records (`data/annotations/{split}.jsonl`, see contracts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from melt.data.labels import EMOTIONS

STATUSES = ("ok", "invalid", "failed")
_REQUIRED = ("split", "dialogue_id", "utterance_id", "sample", "status", "label")


class AnnotationError(ValueError):
    """A record that breaks the annotations contract; the message names the file and line."""


@dataclass(frozen=True)
class Answer:
    """One sample's answer for one utterance."""

    sample: int
    status: str
    label: str | None
    parsed: dict | None
    raw: str | None
    error: str | None
    key: str
    model: str | None
    backend: str | None

    @property
    def elements(self) -> dict:
        return (self.parsed or {}).get("elements") or {}

    @property
    def raw_label(self) -> str | None:
        """What the answer called the emotion, valid or not (for reports of out-of-set labels)."""
        emotion = self.elements.get("emotion")
        return str(emotion).strip().lower() if emotion is not None else None


Key = tuple[str, int, int]  # (split, dialogue_id, utterance_id)


def _check(rec: object, where: str) -> dict:
    if not isinstance(rec, dict):
        raise AnnotationError(f"{where}: expected a JSON object")
    missing = [k for k in _REQUIRED if k not in rec]
    if missing:
        raise AnnotationError(f"{where}: missing field(s) {', '.join(missing)}")
    for k in ("dialogue_id", "utterance_id", "sample"):
        if not isinstance(rec[k], int) or isinstance(rec[k], bool) or rec[k] < 0:
            raise AnnotationError(f"{where}: {k} must be a non-negative integer (got {rec[k]!r})")
    if rec["status"] not in STATUSES:
        raise AnnotationError(f"{where}: status must be one of {', '.join(STATUSES)} (got {rec['status']!r})")
    if rec["status"] == "ok" and rec["label"] not in EMOTIONS:
        raise AnnotationError(f"{where}: status 'ok' with label {rec['label']!r}, not one of the 7 emotions")
    if rec["status"] != "ok" and rec["label"] is not None:
        raise AnnotationError(f"{where}: status {rec['status']!r} must have label null (got {rec['label']!r})")
    if rec.get("parsed") is not None and not isinstance(rec["parsed"], dict):
        raise AnnotationError(f"{where}: parsed must be an object or null")
    return rec


def read_annotations(path: Path, split: str) -> dict[Key, list[Answer]]:
    """Answers per utterance, sorted by sample index. Duplicate (utterance, sample) lines are errors."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found (run the annotate stage first)")
    out: dict[Key, list[Answer]] = {}
    seen: dict[tuple[Key, int], int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = _check(json.loads(line), where)
            except json.JSONDecodeError as err:
                raise AnnotationError(f"{where}: not valid JSON: {err}") from None
            if rec["split"] != split:
                raise AnnotationError(f"{where}: split {rec['split']!r} in the file of split {split!r}")
            key = (split, rec["dialogue_id"], rec["utterance_id"])
            if (key, rec["sample"]) in seen:
                raise AnnotationError(
                    f"{where}: sample {rec['sample']} of dia{key[1]}_utt{key[2]} already on line {seen[key, rec['sample']]}")
            seen[key, rec["sample"]] = lineno
            out.setdefault(key, []).append(Answer(
                sample=rec["sample"], status=rec["status"], label=rec["label"], parsed=rec.get("parsed"),
                raw=rec.get("raw"), error=rec.get("error"), key=str(rec.get("key") or ""),
                model=rec.get("model"), backend=rec.get("backend")))
    for answers in out.values():
        answers.sort(key=lambda a: a.sample)
    return out

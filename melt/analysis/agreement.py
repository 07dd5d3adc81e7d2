"""Agreement statistics between two labelings, and among an utterance's samples."""

from __future__ import annotations

from collections import Counter

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from melt.data.labels import EMOTIONS


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def pair_agreement(a: list[str], b: list[str]) -> dict:
    """a = reference (rows of the confusion matrix), b = the other labeling (columns); 7 emotions only."""
    n = len(a)
    if n == 0:
        return {"n": 0, "change_rate": None, "agreement": None, "kappa": None, "per_class": {},
                "confusion": {"labels": list(EMOTIONS), "matrix": []}}
    same = sum(x == y for x, y in zip(a, b))
    # κ is undefined when both labelings use one and the same single label; report null then
    kappa = cohen_kappa_score(a, b, labels=list(EMOTIONS)) if len(set(a) | set(b)) > 1 else None
    cm = confusion_matrix(a, b, labels=list(EMOTIONS))
    per_class = {}
    for i, lab in enumerate(EMOTIONS):
        in_a, in_b, both = int(cm[i].sum()), int(cm[:, i].sum()), int(cm[i, i])
        per_class[lab] = {
            "reference": in_a, "other": in_b, "both": both,
            "agreement": _round(both / in_a) if in_a else None,       # share of the reference's rows kept
            "precision": _round(both / in_b) if in_b else None,       # share of the other's rows that agree
        }
    return {"n": n, "change_rate": _round(1 - same / n), "agreement": _round(same / n),
            "kappa": _round(kappa), "per_class": per_class,
            "confusion": {"labels": list(EMOTIONS), "matrix": cm.tolist()}}


def label_counts(meld: list[str], melt: list[str]) -> dict:
    cm, ct = Counter(meld), Counter(melt)
    return {lab: {"meld": cm[lab], "melt": ct[lab]} for lab in EMOTIONS}


def samples_alpha(labels_per_unit: list[list[str | None]]) -> dict:
    """Krippendorff's α (nominal) among samples; units = utterances, coders = sample indices, None = no value."""
    n_samples = max((len(u) for u in labels_per_unit), default=0)
    if n_samples < 2:
        return {"samples": n_samples, "alpha": None, "note": "one sample per utterance: no agreement to measure"}
    return {"samples": n_samples, **nominal_alpha(labels_per_unit)}


def nominal_alpha(labels_per_unit: list[list[str | None]]) -> dict:
    """Krippendorff's α (nominal) of coders' labels per unit (coder i = position i, None = no value): `units`
    (units with ≥ 2 values), `alpha`, `unanimous_share` (of those units); α None when undefined."""
    n_coders = max((len(u) for u in labels_per_unit), default=0)
    data = np.full((max(n_coders, 1), len(labels_per_unit)), np.nan)
    for j, unit in enumerate(labels_per_unit):
        for i, lab in enumerate(unit):
            if lab is not None:
                data[i, j] = EMOTIONS.index(lab)
    pairable = int(((~np.isnan(data)).sum(axis=0) >= 2).sum())
    values = set(data[~np.isnan(data)].tolist())
    if n_coders < 2 or pairable == 0 or len(values) < 2:
        return {"units": pairable, "alpha": None,
                "note": "fewer than two distinct labels among pairable units: α undefined"}
    unanimous = sum(len({x for x in u if x is not None}) == 1 and sum(x is not None for x in u) >= 2
                    for u in labels_per_unit)
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    return {"units": pairable, "alpha": _round(alpha), "unanimous_share": _round(unanimous / pairable)}


def pairwise_kappa(labels: dict[str, list[str | None]]) -> list[dict]:
    """Cohen's κ and raw agreement for every pair of coders (in the given order), on the units both labelled."""
    names, out = list(labels), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = [(x, y) for x, y in zip(labels[a], labels[b]) if x is not None and y is not None]
            stats = pair_agreement([x for x, _ in both], [y for _, y in both])
            out.append({"a": a, "b": b, "n": stats["n"], "agreement": stats["agreement"], "kappa": stats["kappa"]})
    return out

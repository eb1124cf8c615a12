"""Clinical efficacy of generated reports offline: the 14 CheXpert observations, labelled by rules.

Reports are labelled the way the CheXpert labeler works (Irvin et al., AAAI 2019), with this project's own rules:
mention phrases per observation (abridged from CheXpert's categories), NegEx negation within the clause and
CheXpert's uncertainty phrases, both from the closed-question answerer (``generation/negation.py``,
``generation/lexicon.py``). A report's label per observation: 1 if any mention is affirmed, else -1 if any is
hedged, else 0 if any is negated (or a normal statement covers it: "heart size is normal"), else not mentioned.
"No Finding" is 1 when no other observation but Support Devices is 1 or -1. Generated reports are scored against
the references' labels as in report-generation papers (R2Gen's clinical-efficacy metrics): per observation,
precision/recall/F1 of label 1 (uncertain counts as not positive), micro- and macro-averaged over the 14 and the
micro F1 over the five CheXpert competition observations. How well the rules agree with the MeSH terms Open-i
indexers gave each IU-Xray report is in BENCHMARKS.md ("CheXpert-14 labeler against Open-i MeSH"); there these rules
agreed better than medspaCy's ConText reading the same mentions (micro F1 0.78 vs 0.77). CheXbert and
RadGraph are model-based and optional (``report_metrics.clinical_metric``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mmedrag.generation.lexicon import HEDGES
from mmedrag.generation.negation import clause_bounds, contains_phrase, is_negated, sentences, words

Label = int  # 1 positive, 0 negative, -1 uncertain; an observation not mentioned has no label

OBSERVATIONS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": (
        r"enlarged cardiomediastin\w*",
        r"(?:cardiomediastinal silhouette|mediastinum|mediastinal silhouette) (?:is |are )?(?:\w+ )?"
        r"(?:enlarged|widened)",
        r"mediastinal (?:widening|enlargement)",
        r"widened mediastinum",
    ),
    "Cardiomegaly": (
        r"cardiomegaly",
        r"enlarged (?:heart|cardiac silhouette)",
        r"(?:heart|cardiac silhouette|cardiac shadow|heart size) (?:is |are )?(?:\w+ )?(?:enlarged|increased)",
        r"cardiac enlargement",
        r"enlargement of (?:the )?(?:heart|cardiac silhouette)",
    ),
    "Lung Opacity": (
        r"opacit\w*",
        r"infiltrat\w*",
        r"air ?space (?:disease|process|opacit\w*)",
        r"haziness",
        r"(?:interstitial|reticular\w*) (?:marking|opacit|prominence|pattern)\w*",
    ),
    "Lung Lesion": (r"nodul\w*", r"mass(?:es)?", r"lesions?", r"tumou?rs?", r"neoplasm\w*", r"carcinoma", r"cavitary"),
    "Edema": (r"edema", r"congestion", r"\bchf\b", r"heart failure"),
    "Consolidation": (r"consolidat\w*",),
    "Pneumonia": (r"pneumonia", r"infection", r"infectious process"),
    "Atelectasis": (r"atelecta\w*", r"(?:lobar|lobe|lung) collapse", r"collapsed? (?:lung|lobe)"),
    "Pneumothorax": (r"pneumothora\w*",),
    "Pleural Effusion": (r"(?<!pericardial )effusions?", r"pleural fluid", r"hydrothorax"),
    "Pleural Other": (r"pleural (?:thickening|plaques?|scar\w*)", r"fibrothorax", r"pleural-parenchymal scar\w*"),
    "Fracture": (r"fractur\w*",),
    "Support Devices": (
        r"pacemaker",
        r"defibrillator",
        r"\ba?icd\b",
        r"catheter",
        r"\bpicc\b",
        r"(?:central|venous|picc) line",
        r"\bport\b",
        r"(?:endotracheal|tracheostomy|nasogastric|feeding|chest|et|ng) tube",
        r"\bstents?\b",
        r"sternotomy wires",
        r"(?:pacer|pacemaker|ekg|ecg|cardiac|transvenous) leads?",
        r"prosthetic valve",
        r"valve replacement",
    ),
}
# Normal statements that deny an observation without a negation word.
NORMALS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (
        r"(?:heart|cardiac silhouette|heart size|cardiac size) (?:is |are )?(?:normal|within normal limits|"
        r"upper limits of normal|unremarkable)",
        r"normal (?:heart|cardiac silhouette|heart size|cardiac size)",
    ),
    "Enlarged Cardiomediastinum": (
        r"(?:cardiomediastinal|mediastinal) (?:silhouette|contours?) (?:is |are )?(?:\w+ )?"
        r"(?:normal|within normal limits|unremarkable|stable)",
        r"normal (?:cardiomediastinal|mediastinal) (?:silhouette|contours?)",
    ),
}
POST_HEDGES = (
    "cannot be excluded",
    "can not be excluded",
    "not excluded",
    "cannot be ruled out",
    "not ruled out",
    "is likely",
    "are likely",
    "is possible",
    "is suspected",
    "is questionable",
    "versus",
    "vs",
)
CHEXPERT_14 = ("No Finding", *OBSERVATIONS)
COMPETITION_5 = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
_PATTERNS = {name: [re.compile(rf"\b{p}") for p in phrases] for name, phrases in OBSERVATIONS.items()}
_NORMAL_PATTERNS = {name: [re.compile(rf"\b{p}") for p in phrases] for name, phrases in NORMALS.items()}
_PRECEDENCE = {1: 3, -1: 2, 0: 1}


def _mention_label(sentence: str, tokens: list[str], span: tuple[int, int]) -> Label:
    """The label of the mention at characters ``span`` of ``sentence`` (tokens: ``words(sentence)``)."""
    first = min(len(words(sentence[: span[0]])), len(tokens) - 1)
    last = min(len(words(sentence[: span[1]])) - 1, len(tokens) - 1)
    begin, end = clause_bounds(tokens, first, max(first, last))
    if is_negated(tokens, begin, end, max(first, last)):
        return 0
    # A hedge before the mention ("may represent atelectasis") or a post-hedge after it ("effusion is not excluded")
    # makes it uncertain; "opacity may represent atelectasis" affirms the opacity.
    hedged = contains_phrase(tokens, HEDGES, begin, first) or contains_phrase(tokens, POST_HEDGES, last + 1, end)
    return -1 if hedged else 1


def label_report(text: str) -> dict[str, Label]:
    """The CheXpert-14 labels of one report (observations not mentioned are left out); see the module docstring."""
    labels: dict[str, Label] = {}

    def keep(name: str, label: Label) -> None:
        if _PRECEDENCE[label] > _PRECEDENCE.get(labels.get(name, -2), 0):
            labels[name] = label

    for sentence in sentences(text):
        lowered = sentence.lower().replace("\u2019", "'")
        tokens = words(sentence)
        if not tokens:
            continue
        for name, patterns in _PATTERNS.items():
            for pattern in patterns:
                for match in pattern.finditer(lowered):
                    keep(name, _mention_label(lowered, tokens, match.span()))
        for name, patterns in _NORMAL_PATTERNS.items():
            if any(p.search(lowered) for p in patterns):
                keep(name, 0)
    findings = [label for name, label in labels.items() if name != "Support Devices"]
    labels["No Finding"] = 0 if any(label in (1, -1) for label in findings) else 1
    return labels


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def positive_agreement(
    predicted: Sequence[set[str]], reference: Sequence[set[str]], names: Sequence[str] = CHEXPERT_14
) -> dict[str, Any]:
    """Per-observation and micro/macro precision, recall and F1 of predicted positive sets against reference ones,
    and the micro scores over the five competition observations."""
    pairs = list(zip(predicted, reference, strict=True))
    counts = {
        name: (
            sum(name in p and name in r for p, r in pairs),
            sum(name in p and name not in r for p, r in pairs),
            sum(name not in p and name in r for p, r in pairs),
        )
        for name in names
    }
    per = {name: {**_prf(*c), "support": c[0] + c[2]} for name, c in counts.items()}

    def micro(subset: Sequence[str]) -> dict[str, float]:
        return _prf(*(sum(counts[n][i] for n in subset if n in counts) for i in range(3)))

    return {
        "n": len(pairs),
        "per_observation": per,
        "micro": micro(names),
        "macro": {k: sum(v[k] for v in per.values()) / len(per) for k in ("precision", "recall", "f1")},
        "micro_5": micro(COMPETITION_5),
    }


def positives(text: str) -> set[str]:
    """The observations a report affirms (label 1)."""
    return {name for name, label in label_report(text).items() if label == 1}


def chexpert_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """CheXpert-14 clinical efficacy of generated reports against their references (see the module docstring)."""
    result = positive_agreement([positives(p) for p in predictions], [positives(r) for r in references])
    result["labeler"] = "mmedrag rules (CheXpert-14 mentions, NegEx negation, CheXpert uncertainty phrases)"
    return result


# Open-i's MeSH major headings (the part before the first "/") that name a CheXpert observation; "normal" is
# No Finding. Used to check the labeler against the indexers' reading of IU-Xray reports.
OPEN_I_MESH = {
    "normal": "No Finding",
    "Cardiomegaly": "Cardiomegaly",
    "Pulmonary Atelectasis": "Atelectasis",
    "Pleural Effusion": "Pleural Effusion",
    "Opacity": "Lung Opacity",
    "Infiltrate": "Lung Opacity",
    "Airspace Disease": "Lung Opacity",
    "Nodule": "Lung Lesion",
    "Mass": "Lung Lesion",
    "Pulmonary Edema": "Edema",
    "Pulmonary Congestion": "Edema",
    "Consolidation": "Consolidation",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Hydropneumothorax": "Pneumothorax",
    "Fractures, Bone": "Fracture",
    "Catheters, Indwelling": "Support Devices",
    "Implanted Medical Device": "Support Devices",
    "Tube, Inserted": "Support Devices",
    "Medical Device": "Support Devices",
    "Stents": "Support Devices",
}


def mesh_observations(terms: list[str]) -> set[str]:
    """CheXpert observations named by a report's MeSH major terms (pleural thickening/scarring: Pleural Other)."""
    found = {OPEN_I_MESH[t.split("/")[0]] for t in terms if t.split("/")[0] in OPEN_I_MESH}
    found |= {"Pleural Other" for t in terms if t.split("/")[0] in {"Thickening", "Cicatrix"} and "pleura" in t}
    found |= {"Cardiomegaly" for t in terms if t.startswith("Cardiac Shadow") and "enlarged" in t}
    found |= {"Enlarged Cardiomediastinum" for t in terms if t.startswith("Mediastinum") and "enlarged" in t}
    return found

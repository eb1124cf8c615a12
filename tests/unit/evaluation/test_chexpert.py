from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.evaluation.chexpert import CHEXPERT_14, chexpert_metrics, label_report, positive_agreement
from mmedrag.evaluation.report_metrics import report_metrics


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            "No pleural effusion or pneumothorax. Heart size is normal.",
            {"Pleural Effusion": 0, "Pneumothorax": 0, "Cardiomegaly": 0, "No Finding": 1},
        ),
        (
            "Mild cardiomegaly. Small left pleural effusion.",
            {"Cardiomegaly": 1, "Pleural Effusion": 1, "No Finding": 0},
        ),
        # the opacity is affirmed; what it may represent is uncertain
        (
            "Left basilar opacity may represent atelectasis or pneumonia.",
            {"Lung Opacity": 1, "Atelectasis": -1, "Pneumonia": -1, "No Finding": 0},
        ),
        ("A small effusion cannot be excluded.", {"Pleural Effusion": -1, "No Finding": 0}),
        (
            "The heart is enlarged. Right PICC line in place.",
            {"Cardiomegaly": 1, "Support Devices": 1, "No Finding": 0},
        ),
        ("Right PICC line in place. Lungs clear.", {"Support Devices": 1, "No Finding": 1}),
        ("No acute cardiopulmonary abnormality.", {"No Finding": 1}),
        ("Pneumothorax is not seen. Small pericardial effusion.", {"Pneumothorax": 0, "No Finding": 1}),
        ("Healed left rib fractures.", {"Fracture": 1, "No Finding": 0}),
        (
            "No pneumothorax, but there is a right lower lobe consolidation.",
            {"Pneumothorax": 0, "Consolidation": 1, "No Finding": 0},
        ),
    ],
)
def test_labels_with_negation_and_uncertainty(report: str, expected: dict[str, int]) -> None:
    assert label_report(report) == expected


def test_agreement_metrics_by_hand() -> None:
    predicted = [{"Cardiomegaly"}, {"Cardiomegaly", "Edema"}, set()]
    reference = [{"Cardiomegaly"}, {"Edema"}, {"Edema"}]
    result = positive_agreement(predicted, reference)
    cardio, edema = result["per_observation"]["Cardiomegaly"], result["per_observation"]["Edema"]
    assert (cardio["precision"], cardio["recall"], cardio["support"]) == (0.5, 1.0, 1)
    assert (edema["precision"], edema["recall"]) == (1.0, 0.5)
    assert result["micro"]["precision"] == pytest.approx(2 / 3) and result["micro"]["recall"] == pytest.approx(2 / 3)
    assert result["micro_5"] == result["micro"]  # both observations are among the five
    assert result["macro"]["f1"] == pytest.approx((2 / 3 + 2 / 3) / 14)


def test_generated_reports_are_scored_against_their_references() -> None:
    predictions = ["Mild cardiomegaly. No effusion.", "Normal chest."]
    references = ["Cardiomegaly. Small right pleural effusion.", "No acute disease."]
    metrics = report_metrics(predictions, references, ("chexpert",))
    result = metrics["chexpert"]
    assert metrics["chexpert_f1_micro"] == result["micro"]["f1"] and metrics["chexpert_f1_micro_5"] == 2 / 3
    assert set(result["per_observation"]) == set(CHEXPERT_14)
    assert result["per_observation"]["Cardiomegaly"]["f1"] == 1.0
    assert result["per_observation"]["Pleural Effusion"]["recall"] == 0.0
    assert chexpert_metrics(references, references)["micro"]["f1"] == 1.0


@pytest.mark.data
def test_labeler_agrees_with_the_open_i_mesh_terms(shared_data: Path) -> None:
    from mmedrag.evaluation.chexpert import mesh_observations, positives

    reports = [json.loads(line) for line in (shared_data / "iu_xray_reports/reports.jsonl").open()]
    indexed = [r for r in reports if r["mesh_major"] and "No Indexing" not in r["mesh_major"]][:1500]
    predicted = [positives(f"{r.get('findings') or ''} {r.get('impression') or ''}") for r in indexed]
    result = positive_agreement(predicted, [mesh_observations(r["mesh_major"]) for r in indexed])
    assert result["micro_5"]["f1"] > 0.85  # 0.90 on all 3,832 indexed reports (BENCHMARKS.md)

"""Training run names: the trigger reason reduced to its kind, the version put in front once known."""

import pytest
from tabular_mlops.training.run_names import reason_label, training_run_name, versioned_run_name


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("", "scheduled"),
        ("manual", "manual"),
        ("backfill", "backfill"),
        ("initial training after backfill", "initial"),
        ("last night: share of drifted columns 0.36 > 0.3", "drift"),
        ("last 7 nights: drift in key features income (PSI 0.280, psi 0.280)", "drift"),
        ("matured-label ROC AUC 0.641 < promotion threshold 0.7", "performance"),
        (
            "label drift: matured default rate 9.10% vs 3.50% in the champion's training data (x2.6, chi-square "
            "p 1.0e-12); retraining because monitor.retrain_on_label_drift",
            "label drift",
        ),
        ("new suppliers onboarded, see ticket 42", "new suppliers onboarded see"),
    ],
)
def test_the_reason_becomes_a_short_label(reason, label):
    assert reason_label(reason) == label


def test_the_version_goes_in_front_once():
    name = training_run_name("2026-03-17", "share of drifted columns 0.36 > 0.3")
    assert name == "train 2026-03-17 drift"
    assert versioned_run_name(name, "3") == "train v3 2026-03-17 drift"
    assert versioned_run_name(versioned_run_name(name, "3"), "3") == "train v3 2026-03-17 drift"

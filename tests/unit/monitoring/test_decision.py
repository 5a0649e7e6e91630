import datetime as dt

from tabular_mlops.monitoring.decision import decide

NIGHT = "2026-03-10"


def _summary(drifted=(), matured=None, labelled_drifted=(), status="ok", score_psi=0.0, share=None):
    columns = [
        {
            "column": c,
            "drifted": c in drifted,
            "psi": 0.4 if c in drifted else 0.01,
            "test": "psi",
            "statistic": 0.4 if c in drifted else 0.01,
        }
        for c in ("income", "age", "has_smartphone", "debt_to_income", "loan_amount")
    ]
    return {
        "night": NIGHT,
        "status": status,
        "rows": 5000,
        "columns": columns,
        "drift_share": share if share is not None else len(drifted) / len(columns),
        "score_psi": score_psi,
        "matured_roc_auc": matured,
        "labelled_window_drifted": list(labelled_drifted),
    }


def test_no_data_and_tiny_windows_make_no_decision(repo_params):
    assert decide(_summary(status="no_data"), repo_params, None, False).action is None
    tiny = decide({**_summary(status="too_few_rows"), "rows": 10}, repo_params, None, False)
    assert tiny.action is None and "min_rows" in tiny.reasons[0]


def test_stable_keeps(repo_params):
    assert decide(_summary(), repo_params, None, False).action == "keep"


def test_key_feature_drift_retrains_before_labels_mature(repo_params):
    d = decide(_summary(drifted=("income",)), repo_params, None, False)
    assert d.action == "retrain" and "income" in d.reasons[0]


def test_score_drift_retrains(repo_params):
    d = decide(_summary(score_psi=0.5), repo_params, None, False)
    assert d.action == "retrain" and "score drift" in d.reasons[0]


def test_underperforming_on_matured_labels_retrains(repo_params):
    d = decide(_summary(matured=0.55), repo_params, None, False)
    assert d.action == "retrain" and "ROC AUC 0.550" in d.reasons[0]


def test_drifted_but_performing_keeps_unless_configured(repo_params):
    s = _summary(drifted=("income",), matured=0.80, labelled_drifted=("income",))
    d = decide(s, repo_params, None, False)
    assert d.action == "keep" and d.reasons[0].startswith("drifted, performing")
    from dataclasses import replace

    eager = replace(
        repo_params, monitor=replace(repo_params.monitor, retrain_when_drifted_but_performing=True)
    )
    assert decide(s, eager, None, False).action == "retrain"


def test_cooldown_and_single_flight(repo_params):
    s = _summary(drifted=("income",))
    recent = dt.date.fromisoformat(NIGHT) - dt.timedelta(days=2)
    cooled = decide(s, repo_params, recent, False)
    assert cooled.action == "keep" and "cooldown" in cooled.reasons[0]
    old = dt.date.fromisoformat(NIGHT) - dt.timedelta(days=repo_params.monitor.cooldown_days + 1)
    assert decide(s, repo_params, old, False).action == "retrain"
    flight = decide(s, repo_params, None, True)
    assert flight.action == "keep" and "in flight" in flight.reasons[0]


def _label(drifted: bool) -> dict:
    return {
        "reference_rate": 0.035,
        "matured_rate": 0.095 if drifted else 0.036,
        "rate_ratio": 2.71 if drifted else 1.03,
        "p_value": 1e-12 if drifted else 0.6,
        "drifted": drifted,
    }


def test_label_drift_is_reported_but_keeps_by_default(repo_params):
    d = decide({**_summary(matured=0.76), "label_drift": _label(True)}, repo_params, None, False)
    assert d.action == "keep"
    assert any(r.startswith("label drift: matured default rate 9.50% vs 3.50%") for r in d.reasons)
    quiet = decide({**_summary(matured=0.76), "label_drift": _label(False)}, repo_params, None, False)
    assert not any("label drift" in r for r in quiet.reasons)


def test_label_drift_retrains_when_configured(repo_params):
    from dataclasses import replace

    params = replace(repo_params, monitor=replace(repo_params.monitor, retrain_on_label_drift=True))
    d = decide({**_summary(matured=0.76), "label_drift": _label(True)}, params, None, False)
    assert d.action == "retrain" and "retrain_on_label_drift" in d.reasons[0]


def test_label_drift_retrain_survives_a_drifted_but_performing_window(repo_params):
    from dataclasses import replace

    params = replace(repo_params, monitor=replace(repo_params.monitor, retrain_on_label_drift=True))
    s = {
        **_summary(drifted=("income",), matured=0.80, labelled_drifted=("income",)),
        "label_drift": _label(True),
    }
    d = decide(s, params, None, False)
    assert d.action == "retrain"
    assert "retrain_on_label_drift" in d.reasons[0]
    assert any(r.startswith("drifted, performing") for r in d.reasons)

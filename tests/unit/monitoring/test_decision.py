import datetime as dt
from dataclasses import replace

from tabular_mlops.monitoring.decision import decide
from tabular_mlops.monitoring.results import (
    Action,
    ColumnDrift,
    LabelDrift,
    NightSummary,
    Status,
    WindowDrift,
)

NIGHT = dt.date(2026, 3, 10)
COLUMNS = ("income", "age", "has_smartphone", "debt_to_income", "loan_amount")


def _summary(
    drifted=(), matured=None, labelled_drifted=(), status="ok", score_psi=0.0, share=None, labels=None
):
    columns = tuple(
        ColumnDrift(
            c,
            "psi",
            0.4 if c in drifted else 0.01,
            None,
            0.4 if c in drifted else 0.01,
            c in drifted,
            "significant" if c in drifted else "stable",
        )
        for c in COLUMNS
    )
    window = WindowDrift(
        5000, columns, share if share is not None else len(drifted) / len(columns), score_psi
    )
    return NightSummary(
        night=NIGHT,
        status=Status(status),
        rows=5000,
        night_rows=700,
        reference_rows=20_000,
        expected_rows=5000.0,
        labelled_rows=5000,
        window=None if status == "no_data" else window,
        matured_roc_auc=matured,
        label_drift=labels or LabelDrift(),
        labelled_window_drifted=tuple(labelled_drifted),
    )


def _decide(summary, params, last_retrain=None, in_flight=False, **monitor):
    rate_name = params.wording.rate_text(params.schema.target_column)  # the example's "default rate"
    return decide(
        summary, replace(params.monitor, **monitor), params.gate, last_retrain, in_flight, rate_name
    )


def test_no_data_and_tiny_windows_make_no_decision(repo_params):
    empty = _decide(_summary(status="no_data"), repo_params)
    assert empty.action is None and empty.reasons == ("no rows in the current window",)
    tiny = _decide(replace(_summary(status="too_few_rows"), rows=10), repo_params)
    assert tiny.action is None
    assert tiny.reasons == (f"10 rows < monitor.min_rows {repo_params.monitor.min_rows}: report only",)


def test_stable_keeps(repo_params):
    d = _decide(_summary(), repo_params)
    assert d.action is Action.KEEP and d.reasons == ("no drift or performance rule fired",)


def test_key_feature_drift_retrains_before_labels_mature(repo_params):
    d = _decide(_summary(drifted=("income",)), repo_params)
    assert d.action is Action.RETRAIN and d.retrain
    window = repo_params.monitor.window_days
    assert d.reasons == (f"last {window} nights: drift in key features income (PSI 0.400, psi 0.400)",)
    assert d.drift_reasons == d.reasons


def test_drift_share_and_the_newest_night_alone(repo_params):
    s = _summary(drifted=("loan_amount",), share=0.6)
    s = replace(s, last_night=replace(s.window, rows=700, score_psi=0.3))
    d = _decide(s, repo_params)
    window, cfg = repo_params.monitor.window_days, repo_params.monitor
    assert d.reasons == (
        f"last {window} nights: share of drifted columns 0.60 > {cfg.drift_share_threshold}",
        f"last night: share of drifted columns 0.60 > {cfg.drift_share_threshold}",
        f"last night: score drift PSI 0.300 > {cfg.score_psi_threshold}",
    )


def test_score_drift_retrains(repo_params):
    d = _decide(_summary(score_psi=0.5), repo_params)
    assert d.action is Action.RETRAIN and "score drift" in d.reasons[0]


def test_underperforming_on_matured_labels_retrains(repo_params):
    d = _decide(_summary(matured=0.55), repo_params)
    assert d.action is Action.RETRAIN
    assert d.reasons == (f"matured-label ROC AUC 0.550 < promotion threshold {repo_params.gate.min_roc_auc}",)


def test_drifted_but_performing_keeps_unless_configured(repo_params):
    s = _summary(drifted=("income",), matured=0.80, labelled_drifted=("income",))
    d = _decide(s, repo_params)
    assert d.action is Action.KEEP
    assert (
        d.reasons[0] == f"drifted, performing (matured-label ROC AUC 0.800 >= {repo_params.gate.min_roc_auc})"
    )
    assert _decide(s, repo_params, retrain_when_drifted_but_performing=True).action is Action.RETRAIN


def test_cooldown_and_single_flight(repo_params):
    s = _summary(drifted=("income",))
    recent = NIGHT - dt.timedelta(days=2)
    cooled = _decide(s, repo_params, last_retrain=recent)
    until = recent + dt.timedelta(days=repo_params.monitor.cooldown_days)
    assert cooled.action is Action.KEEP
    assert cooled.reasons[0] == f"cooldown after the retraining of {recent} until {until}"
    old = NIGHT - dt.timedelta(days=repo_params.monitor.cooldown_days + 1)
    assert _decide(s, repo_params, last_retrain=old).action is Action.RETRAIN
    flight = _decide(s, repo_params, in_flight=True)
    assert flight.action is Action.KEEP and flight.reasons[0] == "a retraining is already in flight"


def _label(drifted: bool) -> LabelDrift:
    return LabelDrift(
        reference_rate=0.035,
        matured_rate=0.095 if drifted else 0.036,
        rate_ratio=2.71 if drifted else 1.03,
        p_value=1e-12 if drifted else 0.6,
        drifted=drifted,
    )


def test_label_drift_is_reported_but_keeps_by_default(repo_params):
    d = _decide(_summary(matured=0.76, labels=_label(True)), repo_params)
    assert d.action is Action.KEEP
    assert d.reasons[1] == (
        "label drift: matured default rate 9.50% vs 3.50% in the champion's training data (x2.71, chi-square p "
        "1.0e-12) (reported; monitor.retrain_on_label_drift is off)"
    )
    quiet = _decide(_summary(matured=0.76, labels=_label(False)), repo_params)
    assert not any("label drift" in r for r in quiet.reasons)


def test_label_drift_retrains_when_configured(repo_params):
    d = _decide(_summary(matured=0.76, labels=_label(True)), repo_params, retrain_on_label_drift=True)
    assert d.action is Action.RETRAIN and "retrain_on_label_drift" in d.reasons[0]


def test_label_drift_retrain_survives_a_drifted_but_performing_window(repo_params):
    s = _summary(drifted=("income",), matured=0.80, labelled_drifted=("income",), labels=_label(True))
    d = _decide(s, repo_params, retrain_on_label_drift=True)
    assert d.action is Action.RETRAIN
    assert "retrain_on_label_drift" in d.reasons[0]
    assert any(r.startswith("drifted, performing") for r in d.reasons)

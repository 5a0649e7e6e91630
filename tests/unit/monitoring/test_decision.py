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
    # A PSI-tested column names its PSI once (it was "PSI 0.400, psi 0.400").
    assert d.reasons == (f"last {window} nights: drift in key features income (PSI 0.400)",)
    assert d.drift_reasons == d.reasons


def test_a_ks_tested_column_names_its_psi_and_its_statistic(repo_params):
    s = _summary()
    income = replace(s.window.columns[0], test="ks", statistic=0.205, p_value=0.0, psi=0.257, drifted=True)
    s = replace(s, window=replace(s.window, columns=(income, *s.window.columns[1:])))
    (reason,) = _decide(s, repo_params).reasons
    assert reason.endswith("drift in key features income (PSI 0.257, ks 0.205)"), reason


def test_a_window_of_the_newest_night_alone_is_judged_once(repo_params):
    """On a champion's first monitored night the window is that night: the same rows, the same reasons (seen
    in the drill, `why` and the run note: every reason twice, word for word)."""
    s = _summary(drifted=("income",), share=0.6)
    s = replace(s, last_night=s.window)
    window = repo_params.monitor.window_days
    assert all(r.startswith(f"last {window} nights: ") for r in _decide(s, repo_params).reasons)
    fewer = replace(s, last_night=replace(s.window, rows=700))
    assert any(r.startswith("last night: ") for r in _decide(fewer, repo_params).reasons)


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


def _harm(drop, estimate=0.78):
    from tabular_mlops.monitoring.estimate_records import EstimatedHarm
    from tabular_mlops.stats.metrics import MetricEstimate

    if drop is None:
        return EstimatedHarm(
            None, None, None, 0.80, "no estimated ROC AUC (CBPE: 40 scored rows, fewer than ...)"
        )
    figure = MetricEstimate(estimate, estimate - 0.02, estimate + 0.02)
    return EstimatedHarm(
        drop, "cbpe", figure, estimate + drop, f"estimated ROC AUC {estimate:.3f} drop {drop:.3f}"
    )


def _decide_on_harm(summary, params, harm, **monitor):
    rate_name = params.wording.rate_text(params.schema.target_column)
    return decide(summary, replace(params.monitor, **monitor), params.gate, None, False, rate_name, harm)


def test_drift_the_estimate_says_does_not_hurt_keeps_the_champion(repo_params):
    d = _decide_on_harm(_summary(drifted=("income",)), repo_params, _harm(0.01))
    assert d.action is Action.KEEP
    assert d.reasons[0] == "drifted, performing (estimated): estimated ROC AUC 0.780 drop 0.010"
    assert "drift in key features income" in d.reasons[1]
    assert d.drift_reasons  # the drift is still reported
    # Configured to retrain on any drift: it does, and says the estimate saw no harm.
    cfg = _decide_on_harm(
        _summary(drifted=("income",)), repo_params, _harm(0.01), retrain_when_drifted_but_performing=True
    )
    assert cfg.action is Action.RETRAIN and "drifted, performing (estimated)" in cfg.reasons[-1]


def test_drift_with_an_estimated_drop_beyond_the_limit_retrains_on_the_first_night(repo_params):
    d = _decide_on_harm(_summary(drifted=("income",)), repo_params, _harm(0.08, 0.70))
    assert d.action is Action.RETRAIN
    assert d.reasons[0].startswith("drifted, harmed (estimated): estimated ROC AUC 0.700 drop 0.080")
    # The limit is monitor.max_estimated_drop: a wider one keeps.
    wide = _decide_on_harm(
        _summary(drifted=("income",)), repo_params, _harm(0.08, 0.70), max_estimated_drop=0.1
    )
    assert wide.action is Action.KEEP


def test_matured_labels_have_the_final_word_over_the_estimate(repo_params):
    # Labels say below the floor: retrain, though the estimate saw no harm.
    below = _decide_on_harm(_summary(drifted=("income",), matured=0.55), repo_params, _harm(0.0))
    assert below.action is Action.RETRAIN and below.reasons[0].startswith("matured-label ROC AUC 0.550 <")
    # Labels cover the drift and say it performs: keep, though the estimate saw harm.
    s = _summary(drifted=("income",), matured=0.80, labelled_drifted=("income",))
    kept = _decide_on_harm(s, repo_params, _harm(0.2, 0.6))
    assert kept.action is Action.KEEP and kept.reasons[0].startswith("drifted, performing (matured-label")
    assert any(r.startswith("estimated ROC AUC 0.600") for r in kept.reasons)


def test_a_withheld_estimate_leaves_drift_to_retrain_and_says_why(repo_params):
    d = _decide_on_harm(_summary(drifted=("income",)), repo_params, _harm(None))
    assert d.action is Action.RETRAIN and "drift in key features" in d.reasons[0]
    assert d.reasons[-1].startswith("no estimated ROC AUC")
    stable = _decide_on_harm(_summary(), repo_params, _harm(0.01))
    assert stable.action is Action.KEEP
    assert stable.reasons == ("no drift or performance rule fired", "estimated ROC AUC 0.780 drop 0.010")


def test_a_window_beyond_the_holdout_retrains_though_cbpe_sees_no_drop(repo_params):
    """CBPE trusts the scores; where the model extrapolates (no holdout row like tonight's) it cannot see harm,
    so importance weighting's no-overlap verdict retrains on the first night."""
    beyond = replace(_harm(0.0), unsupported="no overlap for 41% of tonight's rows")
    d = _decide_on_harm(_summary(drifted=("income",)), repo_params, beyond)
    assert d.action is Action.RETRAIN and d.reasons[0].startswith("drifted, harmed (estimated)")
    # No estimate at all but the overlap verdict: still judged, still harm.
    blind = replace(_harm(None), unsupported="no overlap: a classifier tells tonight's rows apart")
    assert _decide_on_harm(_summary(drifted=("income",)), repo_params, blind).action is Action.RETRAIN


def test_a_retraining_on_the_overlap_check_reads_as_harm_and_says_which_estimator_decided(repo_params):
    """The reason the run note and `tabular-mlops why` show when importance weighting's overlap check overrules
    CBPE: it read "drop -0.024 <= 0.03; importance weighting: no overlap", i.e. "not harmed", on a retrain."""
    from tabular_mlops.monitoring.harm import estimated_harm
    from tabular_mlops.stats.metrics import MetricEstimate, PerformanceEstimate, withheld

    holdout = PerformanceEstimate("realized", 3000, {"roc_auc": MetricEstimate(0.790)})
    cbpe = PerformanceEstimate("cbpe", 2000, {"roc_auc": MetricEstimate(0.814, 0.794, 0.834)})
    beyond = withheld(
        "importance_weighting", 2000, "no overlap: ...", domain_auc=0.998, unsupported_share=0.6
    )
    harm = estimated_harm(holdout, cbpe, beyond, repo_params.monitor.max_estimated_drop)
    d = _decide_on_harm(_summary(drifted=("income",)), repo_params, harm, max_estimated_drop=0.03)
    assert d.action is Action.RETRAIN
    assert d.reasons[0] == (
        "drifted, harmed (estimated): estimated ROC AUC 0.814 [0.794, 0.834] (CBPE) vs 0.790 on the holdout: "
        "CBPE drop -0.024 <= monitor.max_estimated_drop 0.03, but no overlap with the holdout (importance "
        "weighting's domain ROC AUC 0.998 >= 0.99): the model extrapolates, CBPE not trusted"
    )
    assert "drift in key features income" in d.reasons[1]

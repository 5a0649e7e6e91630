"""The night's estimate step (monitoring/night_estimate.py): real CBPE, importance weighting, calibration and
grading on synthetic scored rows whose truth is known; every edge a reason, the record JSON without a NaN."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from tabular_mlops.core.config import BusinessValueConfig
from tabular_mlops.monitoring.champion_calibration import holdout_calibration, load_calibration
from tabular_mlops.monitoring.champion_reference import ChampionReference
from tabular_mlops.monitoring.estimate_records import (
    CBPE_ROC_AUC,
    NightEstimate,
    estimate_metrics,
)
from tabular_mlops.monitoring.night_estimate import (
    NightHistory,
    estimate_night,
    estimate_point,
    realized_points,
)
from tabular_mlops.monitoring.night_record import result_path
from tabular_mlops.monitoring.results import Decision, NightResult, NightSummary, Status
from tabular_mlops.stats.calibration import CalibrationFit

NIGHT = dt.date(2026, 4, 20)
FEATURES = ["x", "colour"]
VALUES = BusinessValueConfig(
    true_negative=300.0, false_negative=-1800.0, false_positive=-40.0, true_positive=0.0
)


def _rows(n: int, seed: int, shift: float = 0.0, concept: bool = False) -> pd.DataFrame:
    """Rows whose true default probability is a logistic of x; the 'model' scores that probability. `shift` moves
    x (covariate shift the model handles); `concept` breaks the link between the score and the label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-(x * 1.5 - 2.5)))
    truth = rng.random(n) < (0.15 if concept else p)
    return pd.DataFrame(
        {"x": x, "colour": rng.choice(["red", "blue"], n), "score": p, "label": truth.astype(int)}
    )


def _reference(holdout: pd.DataFrame | None, version: str = "3") -> ChampionReference:
    return ChampionReference(
        profile=None,  # type: ignore[arg-type]  # the estimate reads the holdout and its calibration only
        sample=pd.DataFrame(),
        holdout=holdout,
        calibration=holdout_calibration(holdout, version),
    )


def _estimate(repo_params, tmp_path, reference, current, labelled=None, night=NIGHT, **monitor):
    params = repo_params
    return estimate_night(
        reference,
        current,
        labelled if labelled is not None else current.iloc[:0],
        features=FEATURES,
        monitor=dataclasses.replace(params.monitor, min_rows=500, **monitor),
        threshold=0.1,
        business_value=VALUES,
        history=NightHistory("3", night, night - dt.timedelta(days=30), tmp_path, params.paths),
    )


def _no_nan(record: NightEstimate) -> dict:
    data = record.to_dict()
    json.dumps(data, allow_nan=False)  # a NaN anywhere fails here
    assert NightEstimate.from_dict(data) == record
    return data


def test_a_shift_the_model_handles_is_estimated_close_to_the_truth(repo_params, tmp_path):
    holdout, current = _rows(6000, 1), _rows(4000, 2, shift=0.5)
    est = _estimate(repo_params, tmp_path, _reference(holdout), current)
    realized = roc_auc_score(current["label"], current["score"])
    cbpe = est.cbpe.metric("roc_auc")
    assert cbpe.lower <= realized <= cbpe.upper, (cbpe, realized)
    assert abs(cbpe.value - realized) < 0.03
    iw = est.importance.metric("roc_auc")
    assert iw.value is not None and abs(iw.value - realized) < 0.05
    assert est.importance.details["effective_rows"] > 300
    assert est.calibrator in ("isotonic", "identity") and est.calibration_reason
    assert est.headline().startswith("estimated ROC AUC ") and "(CBPE)" in est.headline()
    assert est.harm.drop is not None and "monitor.max_estimated_drop" in est.harm.text
    assert est.harm.unsupported is None and not est.harm.harmful(0.05)
    assert "(CBPE), " in est.harm.text and "(importance weighting) vs " in est.harm.text
    assert "on the holdout: largest drop " in est.harm.text and len(est.harm.text) < 200
    assert est.value.per_row is not None and est.value.lower < est.value.total < est.value.upper
    assert estimate_point(est) == (cbpe.value, cbpe.lower, cbpe.upper)
    assert realized_points(est) == {}  # no labels matured yet
    metrics = estimate_metrics(est)
    assert {"estimated/roc_auc", "estimated/roc_auc.lower", "estimated/importance.roc_auc"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    _no_nan(est)


def test_few_rows_withhold_the_estimate_with_the_reason(repo_params, tmp_path):
    est = _estimate(repo_params, tmp_path, _reference(_rows(3000, 1)), _rows(40, 2))
    assert est.cbpe.withheld and "fewer than min_rows=500" in est.cbpe.reason
    assert est.importance.withheld and "fewer than min_rows=500" in est.importance.reason
    assert est.harm.drop is None and "no estimated ROC AUC" in est.harm.text
    assert est.value.total is None and "min_rows" in est.value.reason
    assert "n/a" in est.headline()
    assert not any(k.startswith("estimated/roc_auc") for k in estimate_metrics(est))
    _no_nan(est)


def test_a_champion_without_a_holdout_says_why_it_has_no_calibrator(repo_params, tmp_path):
    est = _estimate(repo_params, tmp_path, _reference(None, "2"), _rows(2000, 2))
    assert est.calibrator is None and "champion v2 records no out-of-sample holdout" in est.calibration_reason
    assert est.cbpe.withheld and est.cbpe.reason.startswith("no calibrator: champion v2")
    assert est.importance.withheld and "no labelled holdout" in est.importance.reason
    _no_nan(est)


def test_a_single_class_holdout_cannot_calibrate(repo_params, tmp_path):
    holdout = _rows(3000, 1).assign(label=0)
    est = _estimate(repo_params, tmp_path, _reference(holdout), _rows(2000, 2))
    assert "single class" in est.calibration_reason and est.cbpe.withheld
    assert est.importance.withheld and "single class" in est.importance.reason
    assert est.holdout.metric("roc_auc").value is None  # undefined, with its reason, not NaN
    _no_nan(est)


def test_no_overlap_withholds_importance_weighting_and_cbpe_still_answers(repo_params, tmp_path):
    est = _estimate(repo_params, tmp_path, _reference(_rows(3000, 1)), _rows(2000, 2).assign(colour="green"))
    assert est.importance.withheld and "no overlap" in est.importance.reason
    assert est.importance.details["domain_auc"] > 0.99
    assert est.cbpe.metric("roc_auc").value is not None
    # CBPE alone would vouch for these rows; the harm the decision reads says no holdout row stands for them.
    assert est.harm.unsupported == est.importance.reason and est.harm.harmful(1.0)
    # Within the limit by CBPE, overruled by the overlap check: the reason says both and which decided.
    assert " on the holdout: CBPE drop " in est.harm.text
    assert ", but no overlap with the holdout (importance weighting's domain ROC AUC" in est.harm.text
    assert "domain ROC AUC 1.000 >= 0.99" in est.harm.text
    assert est.harm.text.endswith("the model extrapolates, CBPE not trusted")
    _no_nan(est)


def test_an_all_missing_feature_is_left_out_of_the_domain_classifier_by_name(repo_params, tmp_path):
    holdout, current = _rows(3000, 1), _rows(2000, 2)
    holdout["x_all_missing"] = np.nan
    current["x_all_missing"] = np.nan
    ref = _reference(holdout)
    est = estimate_night(
        ref,
        current,
        current.iloc[:0],
        features=[*FEATURES, "x_all_missing"],
        monitor=dataclasses.replace(repo_params.monitor, min_rows=500),
        threshold=0.1,
        business_value=BusinessValueConfig(),
        history=NightHistory("3", NIGHT, NIGHT - dt.timedelta(days=30), tmp_path, repo_params.paths),
    )
    assert est.importance.details["ignored_columns"] == "x_all_missing"
    assert not est.importance.withheld
    # business_value left unset (init's proposal): no value, and the record says why.
    assert est.value.total is None and "business_value is not set" in est.value.reason
    _no_nan(est)


def test_every_feature_missing_weights_every_holdout_row_alike(repo_params, tmp_path):
    """Nothing to tell the frames apart by: importance weighting is the holdout's own figure, each column named."""
    holdout, current = _rows(3000, 1), _rows(2000, 2)
    for frame in (holdout, current):
        frame["x"], frame["colour"] = np.nan, None
    est = _estimate(repo_params, tmp_path, _reference(holdout), current)
    assert est.importance.details["ignored_columns"] == "x, colour"
    assert est.importance.details["domain_auc"] == 0.5
    assert est.importance.details["effective_rows"] == pytest.approx(3000)
    assert est.importance.metric("roc_auc").value == pytest.approx(est.holdout.metric("roc_auc").value)
    _no_nan(est)


def test_a_calibrator_that_does_not_help_is_the_identity_and_the_record_says_so(repo_params, tmp_path):
    """A holdout whose scores are already calibrated: isotonic would not lower the error, so the raw scores are
    used (identity, with the reason) and CBPE still answers."""
    levels = np.array([0.02, 0.05, 0.1, 0.2, 0.4])
    scores = np.repeat(levels, 1000)
    labels = np.concatenate(
        [(np.arange(1000) % round(1 / p) == 0) for p in levels[:4]] + [np.arange(1000) % 5 < 2]
    ).astype(int)
    holdout = _rows(5000, 1).assign(score=scores, label=labels)
    current = _rows(3000, 2).assign(score=np.random.default_rng(3).choice(levels, 3000))
    est = _estimate(repo_params, tmp_path, _reference(holdout), current)
    assert est.calibrator == "identity", est.calibration_reason
    assert est.calibration_reason.startswith("identity: isotonic lowers neither")
    assert est.cbpe.metric("roc_auc").value is not None and not est.cbpe.withheld
    _no_nan(est)


def test_an_entry_without_a_calibrator_gets_one_fitted_on_demand_and_kept(tmp_path):
    holdout = _rows(3000, 1)
    first = load_calibration(tmp_path, holdout, "4")
    assert first.calibrator is not None
    assert (tmp_path / "calibration.json").exists()
    # The second read is the stored fit, whatever holdout is handed in.
    assert load_calibration(tmp_path, None, "4") == first
    assert isinstance(first, CalibrationFit)


def _record_night(repo_params, tmp_path, night: dt.date, estimate: NightEstimate) -> None:
    summary = NightSummary(night, Status.OK, 4000, 600, 6000, 4000.0, 0)
    result = NightResult(
        summary=summary,
        decision=Decision(night, Status.OK, None),
        alerts=(),
        champion_version="3",
        monitoring_run_id="run",
        reports=(),
        training_window_end=night,
        estimate=estimate,
    )
    path = result_path(tmp_path, repo_params.paths, night)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict()))


def _concept_drift_nights(repo_params, tmp_path, ref: ChampionReference, k: int):
    """k nights estimated (and recorded) on rows whose labels disagree with the scores; each night's estimate
    30 nights later, when its labels mature, recorded and yielded."""
    for i in range(k):
        estimated_on = NIGHT + dt.timedelta(days=i)
        rows = _rows(3000, 10 + i, concept=True)
        _record_night(
            repo_params,
            tmp_path,
            estimated_on,
            _estimate(repo_params, tmp_path, ref, rows, night=estimated_on),
        )
        matured_on = estimated_on + dt.timedelta(days=30)
        est = _estimate(repo_params, tmp_path, ref, _rows(3000, 50 + i), labelled=rows, night=matured_on)
        _record_night(repo_params, tmp_path, matured_on, est)
        yield est


def test_matured_nights_grade_the_estimate_and_concept_drift_raises_the_alert(repo_params, tmp_path):
    """Three nights estimated on rows whose labels later disagree with the scores (concept drift): as each
    night's labels mature, realized falls outside the interval; on the third the alert stands."""
    holdout = _rows(6000, 1)
    ref = _reference(holdout)
    k = 3
    alerts = []
    for i, est in enumerate(_concept_drift_nights(repo_params, tmp_path, ref, k)):
        estimated_on = NIGHT + dt.timedelta(days=i)
        assert est.matured_night == estimated_on.isoformat()
        assert CBPE_ROC_AUC in est.matured and est.realized is not None
        # The Evidently panel draws the realized figure where the estimate was made.
        assert realized_points(est) == {estimated_on.isoformat(): est.realized.metric("roc_auc").value}
        assert est.value_realized is not None and est.value_realized.per_row is not None
        alerts.append(est.concept_drift)
        grade = est.grades[CBPE_ROC_AUC]
        assert grade.matured_nights == i + 1 and grade.mean_absolute_error > 0.1
    assert alerts[0] == () and alerts[1] == ()
    assert any("concept drift suspected" in a for a in alerts[2])
    metrics = estimate_metrics(est)
    assert "realized/error.cbpe.roc_auc" in metrics
    # The self-check in MLflow: misses in a row, and the alert as 1 while it stands.
    assert metrics["realized/misses_in_a_row.cbpe.roc_auc"] == k
    assert metrics["realized/concept_drift.cbpe.roc_auc"] == 1.0


def test_a_matured_window_of_another_champion_is_not_graded(repo_params, tmp_path):
    ref = _reference(_rows(6000, 1))
    rows = _rows(3000, 10)
    _record_night(repo_params, tmp_path, NIGHT, _estimate(repo_params, tmp_path, ref, rows))
    later = NIGHT + dt.timedelta(days=30)
    est = estimate_night(
        ref,
        rows,
        rows,
        features=FEATURES,
        monitor=dataclasses.replace(repo_params.monitor, min_rows=500),
        threshold=0.1,
        business_value=VALUES,
        # v4 promoted since: tonight's realized figure is v4's, the estimate was v3's.
        history=NightHistory("4", later, NIGHT, tmp_path, repo_params.paths),
    )
    assert est.realized is not None and est.matured == {} and est.grades == {}


def test_the_value_missing_alone_raises_no_concept_drift_alert(repo_params, tmp_path):
    """Label drift (more defaults, same scores) moves the value per row outside its interval night after night;
    its own alert says so. The concept-drift alert reads the ROC AUC grades, which the base rate does not move."""
    from tabular_mlops.monitoring.estimate_records import CBPE_VALUE_PER_ROW
    from tabular_mlops.stats.estimate_grading import NightFigures, grade_estimates

    misses = [NightFigures(f"2026-04-0{i}", 250.0, 240.0, 260.0, 170.0) for i in range(1, 4)]
    value = grade_estimates("value_per_row", "cbpe", misses, 3)
    assert value.alert
    est = dataclasses.replace(
        _estimate(repo_params, tmp_path, _reference(_rows(3000, 1)), _rows(2000, 2)),
        grades={CBPE_VALUE_PER_ROW: value},
    )
    assert est.concept_drift == ()
    metrics = estimate_metrics(est)
    assert metrics["realized/misses_in_a_row.cbpe.value_per_row"] == 3
    assert not any(k.startswith("realized/concept_drift") for k in metrics)


def test_a_new_champion_starts_its_own_grades(repo_params, tmp_path):
    """The self-check grades one champion's estimates: after a promotion, the old champion's misses neither keep
    the alert up nor count in the new champion's running error."""
    ref = _reference(_rows(6000, 1))
    *_, est = _concept_drift_nights(repo_params, tmp_path, ref, 3)
    assert est.concept_drift  # v3's alert stands on its third matured night
    after = dt.date.fromisoformat(est.matured_night) + dt.timedelta(days=31)
    est = estimate_night(
        ref,
        _rows(3000, 60),
        _rows(3000, 61),
        features=FEATURES,
        monitor=dataclasses.replace(repo_params.monitor, min_rows=500),
        threshold=0.1,
        business_value=VALUES,
        history=NightHistory("4", after, after - dt.timedelta(days=30), tmp_path, repo_params.paths),
    )
    assert est.grades == {} and est.concept_drift == ()
    assert not any(k.startswith("realized/concept_drift") for k in estimate_metrics(est))


@pytest.mark.parametrize("rows", [0, 1])
def test_an_empty_window_is_no_error(repo_params, tmp_path, rows):
    est = _estimate(repo_params, tmp_path, _reference(_rows(3000, 1)), _rows(3, 2).iloc[:rows])
    assert est.cbpe.withheld and est.importance.withheld
    _no_nan(est)

"""One MLflow series per registered model, on a real local MLflow store: every night on its own integer step,
the champion that judged it logged beside it, a promotion does not start a new run, a re-run night adds nothing."""

import dataclasses
import datetime as dt

import pytest
from mlflow import MlflowClient
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.tracking import configure_mlflow
from tabular_mlops.monitoring.night_record import (
    CHAMPION_AGE_DAYS,
    CHAMPION_VERSION,
    log_night_metrics,
    log_to_mlflow,
    monitoring_run,
)

from tests.unit.monitoring.test_results import _result

EXPERIMENT = "credit_default_monitoring"
FIRST = dt.date(2026, 3, 15)


@pytest.fixture()
def mlflow_dir(tmp_path, monkeypatch):
    # A store of this test's own: an earlier module on the same pytest worker can leave MLFLOW_TRACKING_URI set,
    # which configure_mlflow would follow, and the tests would then share one series (seen in a full run).
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    configure_mlflow(tmp_path / "mlflow", EXPERIMENT)
    return tmp_path / "mlflow"


def _night(night: dt.date, champion: str, share: float, run_id: str):
    """The test result of `night`, judged by `champion`, with drift share `share`, recorded on `run_id`."""
    result = _result()
    window = dataclasses.replace(result.summary.window, drift_share=share)
    summary = dataclasses.replace(result.summary, night=night, window=window)
    decision = dataclasses.replace(result.decision, night=night)
    return dataclasses.replace(
        result,
        summary=summary,
        decision=decision,
        champion_version=champion,
        monitoring_run_id=run_id,
        reports=(),
    )


def test_three_nights_across_a_promotion_are_one_line_with_the_champion_beside_it(mlflow_dir):
    nights = [
        (FIRST, "1", 0.1),
        (FIRST + dt.timedelta(days=1), "1", 0.36),
        (FIRST + dt.timedelta(days=2), "2", 0.2),
    ]
    run_ids = set()
    for night, champion, share in nights:
        run_id = monitoring_run(mlflow_dir, EXPERIMENT, "credit_default", night)
        run_ids.add(run_id)
        log_to_mlflow(
            run_id, _night(night, champion, share, run_id), trained_until=FIRST - dt.timedelta(days=5)
        )
    (run_id,) = run_ids  # the promotion on the third night did not start another run
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.run_name == "monitor credit_default"
    assert run.data.tags[Tag.SERIES_START] == FIRST.isoformat()
    assert run.data.tags[Tag.MONITORED_VERSION] == "2"  # the latest night's champion
    assert run.data.tags[f"{Tag.DECISION_PREFIX}{FIRST}"].startswith("v1 retrain: ")
    shares = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "drift/share"))
    assert shares == [(0, 0.1), (1, 0.36), (2, 0.2)]  # integer steps, one per night, no two nights share one
    versions = sorted((m.step, m.value) for m in client.get_metric_history(run_id, CHAMPION_VERSION))
    assert versions == [(0, 1.0), (1, 1.0), (2, 2.0)]
    ages = sorted((m.step, m.value) for m in client.get_metric_history(run_id, CHAMPION_AGE_DAYS))
    assert ages == [(0, 5.0), (1, 6.0), (2, 7.0)]
    stamps = {
        dt.datetime.fromtimestamp(m.timestamp / 1000, dt.UTC).date()
        for m in client.get_metric_history(run_id, "drift/share")
    }
    assert stamps == {night for night, _, _ in nights}  # wall time is the night


def test_a_re_run_night_adds_nothing_and_an_earlier_night_gets_a_negative_step(mlflow_dir):
    run_id = monitoring_run(mlflow_dir, EXPERIMENT, "credit_default", FIRST)
    for _ in range(2):
        log_to_mlflow(run_id, _night(FIRST, "1", 0.3, run_id))
    client = MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "drift/share")] == [(0, 0.3)]
    log_night_metrics(
        run_id, FIRST - dt.timedelta(days=3), {"estimated/roc_auc": 0.7, "not_a_number": float("nan")}
    )
    history = client.get_metric_history(run_id, "estimated/roc_auc")
    assert [(m.step, m.value) for m in history] == [(-3, 0.7)]
    assert "not_a_number" not in client.get_run(run_id).data.metrics  # NaN is left out, never drawn at 0


def test_each_registered_model_has_its_own_series(mlflow_dir):
    first = monitoring_run(mlflow_dir, EXPERIMENT, "credit_default", FIRST)
    assert monitoring_run(mlflow_dir, EXPERIMENT, "churn", FIRST) != first
    assert monitoring_run(mlflow_dir, EXPERIMENT, "credit_default", FIRST + dt.timedelta(days=9)) == first

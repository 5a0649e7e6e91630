"""The paired shadow analysis through real Airflow (dag.test), MLflow, DVC and a SQLite prediction log.

A champion is trained; a second registered version answers in shadow beside it (prediction-log rows with source
`shadow` and the champion's application ids, as the service writes them). Its scores are truly better: they move
each champion score a third of the way towards the applicant's real outcome. Labels mature 2 days late (config),
so the first nights compare only how alike the two are; once labels matured, monitor_nightly reports the paired
loss and AUC differences with the right sign and intervals that exclude zero, and the always-valid test, carried
night to night, declares the challenger better.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from tests.support.airflow_runs import drop_queued_runs, run_dag, task_states
from tests.support.shared_champion import ROWS, TRAIN_NIGHT, champion_project, seed

pytestmark = pytest.mark.e2e

NIGHTS = [TRAIN_NIGHT + dt.timedelta(days=i) for i in range(1, 6)]
MODEL = "credit_default"


def _register_challenger() -> str:
    """A second registered version of the champion's model file (the pipeline's tags copied, so its checksum
    and decision threshold are recorded): the version the shadow rows name."""
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import CHAMPION

    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL, CHAMPION)
    version = client.create_model_version(MODEL, champion.source, champion.run_id, tags=dict(champion.tags))
    return str(version.version)


def _log_shadow_answers(project, db, monitor_db, night: dt.date, challenger: str) -> int:
    """The challenger's answers for the night's applications, scored better than the champion's."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.core.contracts import SHADOW_SOURCE, SOURCE_CONN_ID
    from tabular_mlops.model.target_labels import encode_target
    from tabular_mlops.store import prediction_log, source_db

    schema = load_params(project / "params.yaml").schema
    log = sa.create_engine(f"sqlite:///{monitor_db}")
    start = dt.datetime.combine(night, dt.time())
    end = start + dt.timedelta(days=1)
    batch = prediction_log.read_log(log, schema, start, end)
    batch = batch[batch["source"] == "batch"]
    source = source_db.connect(f"sqlite:///{db}", SOURCE_CONN_ID)
    only = [schema.id_column, schema.target_column]
    truth = source_db.read_window(source, schema, start, end, SOURCE_CONN_ID, only)[only]
    truth = truth.drop_duplicates(schema.id_column).set_index(schema.id_column)[schema.target_column]
    y = encode_target(batch[schema.id_column].map(truth), schema).to_numpy(float)
    better = np.clip(batch["score"].to_numpy() * 2 / 3 + y / 3, 0, 1)
    shadow = batch.assign(
        prediction_id="shadow:" + batch[schema.id_column].astype(str),
        score=better,
        decision=(better >= 0.5).astype(int),
        model_version=challenger,
        source=SHADOW_SOURCE,
    ).drop(columns=["label", "label_joined_at"])
    return prediction_log.replace_batch(log, schema, shadow, start, end, source=SHADOW_SOURCE)


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory, airflow_db):
    # The session's shared champion (a 2-day label delay, trained on TRAIN_NIGHT), then the nights' applications.
    # No test here reads an Evidently report (the shadow comparison is in the night's record, the decision log,
    # MLflow and the run note): the nights go without them (monitor.evidently_reports), judged the same.
    shadow = tmp_path_factory.mktemp("shadow")
    project, env, db, monitor_db = champion_project(tmp_path_factory, shadow, {"evidently_reports": False})
    seed(project, db, [(NIGHTS[0], len(NIGHTS), None)])
    challenger = _register_challenger()
    out = {"project": project, "monitor_db": monitor_db, "challenger": challenger, "shadow_rows": {}}
    for night in NIGHTS:
        run = run_dag("monitor_nightly", logical_date=night)
        states = task_states(run)
        assert {state for state, _ in states.values()} <= {"success", "skipped"}, states
        out["shadow_rows"][night] = _log_shadow_answers(project, db, monitor_db, night, challenger)
    # The last night again, now that its own shadow answers are logged too.
    rerun = run_dag("monitor_nightly", logical_date=NIGHTS[-1])
    out["note"] = _note("monitor_nightly", rerun.run_id)
    yield out
    drop_queued_runs("train_model")
    env.restore()


def _note(dag_id: str, run_id: str) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        return run.note


def _result(project, night):
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.night_record import read_result

    return read_result(project, load_params(project / "params.yaml").paths, night)


def test_before_labels_mature_only_likeness_is_reported(shadowed):
    first = _result(shadowed["project"], NIGHTS[0]).shadow
    assert first is None  # no shadow answer logged yet when the first night ran
    second = _result(shadowed["project"], NIGHTS[1]).shadow
    assert second is not None and second.challenger_version == shadowed["challenger"]
    assert second.recent is not None and second.recent.rows == shadowed["shadow_rows"][NIGHTS[0]]
    assert 0.5 < second.recent.score_correlation < 1 and 0 < second.recent.decision_agreement <= 1
    assert second.matured is None and second.test is None
    assert any("matured label" in r for r in second.reasons)


def test_once_labels_matured_the_better_challenger_wins_with_intervals_excluding_zero(shadowed):
    last = _result(shadowed["project"], NIGHTS[-1])
    shadow = last.shadow
    assert shadow is not None and shadow.matured is not None and shadow.matured.labelled_rows >= 2 * ROWS
    by_metric = {d.metric: d for d in shadow.matured.differences}
    for loss in ("brier", "log_loss"):
        d = by_metric[loss]
        assert d.difference < 0 and d.ci_high < 0 and d.favours == "challenger", d
    auc = by_metric["roc_auc"]
    assert auc.difference > 0 and auc.ci_low > 0 and auc.favours == "challenger", auc
    assert shadow.test is not None and str(shadow.test.verdict) == "challenger_better", shadow.test
    assert shadow.test.ci_low > 0
    # Drift and volumes are the champion's rows only: the shadow answers do not double the night.
    assert last.summary.night_rows == shadowed["shadow_rows"][NIGHTS[-1]]


def test_the_test_is_carried_night_to_night_and_shown_everywhere(shadowed):
    from mlflow import MlflowClient
    from tabular_mlops.core.config import load_params
    from tabular_mlops.monitoring.audit import explain_nights
    from tabular_mlops.monitoring.shadow_analysis import recorded_comparisons

    project = shadowed["project"]
    engine = sa.create_engine(f"sqlite:///{shadowed['monitor_db']}")
    recorded = recorded_comparisons(engine)
    tested = [c.test for _, c in sorted(recorded.items()) if c.test is not None]
    assert len(tested) == 3 and tested[0].looks == 1, tested  # labels of nights 1..3 matured on nights 3..5
    for before, after in zip(tested, tested[1:], strict=False):
        # One more look a night, until the test stops (a stopped test keeps its verdict and its looks).
        assert after.looks == before.looks + (0 if before.stopped else 1), (before, after)
    # The re-run of the last night replaced its own look instead of adding one.
    before, after = recorded[NIGHTS[-2]].test, recorded[NIGHTS[-1]].test
    assert after.looks == before.looks + (0 if before.stopped else 1)
    registry = load_params(project / "params.yaml").registry
    why = {r.night: r for r in explain_nights(engine, registry)}
    assert why[NIGHTS[-1]].shadow == recorded[NIGHTS[-1]]
    result = _result(project, NIGHTS[-1])
    metrics = MlflowClient().get_run(result.monitoring_run_id).data.metrics
    assert metrics["shadow/log_loss.ci_high"] < 0 and metrics["shadow/pairs"] > 0
    note = shadowed["note"] or ""
    assert f"shadow v{shadowed['challenger']} vs champion v" in note and "challenger_better" in note, note

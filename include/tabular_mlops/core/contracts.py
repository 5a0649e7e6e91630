"""Every naming contract of the pipeline, spelled once: file names, the snapshot name pattern, registry aliases,
tag keys, DAG ids, connection ids and environment keys. Modules, DAGs, scripts and tests import these instead of
repeating the strings. The DAG files take the orchestrator's names through `tabular_mlops_airflow.settings`; a
connection id can be overridden per deployment by the plugin settings (MLOPS_*_CONN_ID)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

# --- registry aliases -------------------------------------------------------------------------------------
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

# --- validated daily snapshots in `paths.raw_dir` (what data.dvc versions) ------------------------------------
# Neutral words on purpose: the file names are the user's, whatever their table holds (docs/own-data.md has the
# migration note for stacks that wrote the example's earlier names).
SNAPSHOT_PREFIX = "day="
SNAPSHOT_GLOB = f"{SNAPSHOT_PREFIX}*.parquet"
_SNAPSHOT_RE = re.compile(rf"(?:^|[/\\]){SNAPSHOT_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.parquet$")
# Great Expectations result summary written beside each published snapshot.
GX_SIDECAR_SUFFIX = ".gx.json"


def snapshot_name(day: dt.date) -> str:
    """File name of the snapshot that holds the rows of `day` (the day of their time column)."""
    return f"{SNAPSHOT_PREFIX}{day.isoformat()}.parquet"


def snapshot_day(name: str) -> dt.date | None:
    """The day a snapshot file (name or relative path) holds, or None if it is not a snapshot."""
    m = _SNAPSHOT_RE.search(name)
    return dt.date.fromisoformat(m.group(1)) if m else None


def parse_window(window: str) -> tuple[dt.date, dt.date]:
    """A window tag's value ("start..end", as the training run records `reference_window` and `data_window` on
    the model version) -> (start, end), both inclusive."""
    try:
        start, end = (dt.date.fromisoformat(part) for part in window.split(".."))
    except ValueError as exc:
        raise ValueError(
            f"model version has no usable reference window (got {window!r}, want 'start..end')"
        ) from exc
    return start, end


def gx_sidecar(snapshot: Path) -> Path:
    """The GX summary file of a snapshot."""
    return snapshot.with_name(snapshot.stem + GX_SIDECAR_SUFFIX)


def gx_sidecar_day(name: str) -> dt.date | None:
    """The day a GX summary file belongs to, or None."""
    if not name.endswith(GX_SIDECAR_SUFFIX):
        return None
    return snapshot_day(name[: -len(GX_SIDECAR_SUFFIX)] + ".parquet")


# A night quarantined at extraction (values not of their schema type), in paths.quarantine_dir/<batch id>/: the
# columns, counts and row ids, and each faulty day's rows as read.
TYPE_FAULTS_FILE = "type_faults.json"


def raw_rows_name(day: dt.date) -> str:
    """File name of a quarantined day's source rows as read (JSON lines: each value keeps its type)."""
    return f"{SNAPSHOT_PREFIX}{day.isoformat()}.raw.jsonl"


# --- DVC ----------------------------------------------------------------------------------------------------
DATA_DVC_FILE = "data.dvc"
DVC_LOCK_FILE = "dvc.lock"

# --- DVC stage outputs (dvc.yaml lists the same names; tests/unit/test_dvc_stages.py checks it) -------------
TRAIN_FILE = "train.parquet"  # in paths.processed_dir
HOLDOUT_FILE = "holdout.parquet"  # in paths.processed_dir
WINDOW_FILE = "window.json"  # in paths.processed_dir
RUN_FILE = "run.json"  # in paths.model_dir: the training run that `register` picks up
HOLDOUT_METRICS_FILE = "holdout.json"  # in paths.metrics_dir
# In paths.model_dir: the run's score for every holdout row (written by evaluate, reused by the gate).
HOLDOUT_SCORES_FILE = "holdout_scores.parquet"


# --- monitoring: a night's NightResult as JSON, in paths.reports_dir/<night>/ and as an MLflow artifact ------------
NIGHT_RESULT_FILE = "summary.json"


class ReferenceCacheFile:
    """What the monitor keeps per champion version in paths.reference_cache_dir/<key>/ (reference_cache.py)."""

    PROFILE = "profile.npz"  # the drift tests' reference side (monitoring/profile.py)
    SAMPLE = "reference_sample.parquet"  # the scored rows Evidently's reports compare against
    HOLDOUT = "holdout_sample.parquet"  # the champion's out-of-sample scores, the performance reference
    # The isotonic (or identity) map from the champion's score to a probability, fitted on its holdout (CBPE).
    CALIBRATION = "calibration.json"
    COMPLETE = "complete.json"  # written last: a folder without it is an interrupted build


class PlotFile:
    """Evaluation figures in paths.plots_dir (dvc.yaml declares them as plots)."""

    ROC = "roc_curve.png"
    PR = "pr_curve.png"
    CALIBRATION = "calibration_curve.png"
    CONFUSION = "confusion_matrix.png"
    IMPORTANCE = "feature_importance.png"
    ALL = (ROC, PR, CALIBRATION, CONFUSION, IMPORTANCE)


# --- online serving: the last good champion cached on local disk (serving.cache_dir/<model>/) ------------------
SERVING_CACHE_POINTER = "last_good.json"  # which cached version is the last good champion, and its checksum
SERVING_CACHE_META = "cached_model.json"  # beside the MLmodel folder of each cached version


# --- the prediction log (store/prediction_log.py): its fixed columns and the sources of its rows -------------------
class LogColumn:
    """Columns every prediction-log row has besides the schema's id, timestamp and features."""

    PREDICTION_ID = "prediction_id"  # "<source>:<key>", the row's primary key
    SCORE = "score"  # NULL only for a fallback answer
    DECISION = (
        "decision"  # 1 for the high-risk decision (score >= threshold), else 0 (model/decision_rule.py)
    )
    MODEL_NAME = "model_name"
    MODEL_VERSION = "model_version"
    SCORING_RUN_ID = "scoring_run_id"  # the monitoring run (batch) or the service instance (online)
    SOURCE = "source"  # LogSource
    LABEL = "label"  # the matured ground truth, joined later
    LABEL_JOINED_AT = "label_joined_at"
    LATENCY = "latency_ms"  # online answers: request arrival to answer ready
    FALLBACK = "fallback"  # online answers: the model failed, the configured safe decision was given
    SAMPLE_KEY = "sample_key"  # a stable pseudo-random number per row, for reproducible samples


class LogSource:
    """Who wrote a prediction-log row: nightly batch scoring, the online service, or its shadow model."""

    BATCH = "batch"
    ONLINE = "online"
    # A challenger's shadow answers: same entity id as the online answer it shadows, never returned to the
    # caller (deploy.strategy = shadow).
    SHADOW = "shadow"


ONLINE_SOURCE = LogSource.ONLINE
SHADOW_SOURCE = LogSource.SHADOW


# --- MLflow run and model-version tag keys ---------------------------------------------------------------------
class Tag:
    """Tag keys on training runs and registered versions (lineage, gate) and on monitoring runs."""

    DVC_DATA_HASH = "dvc_data_hash"
    GIT_COMMIT = "git_commit"
    GIT_DIRTY = (
        "git_dirty"  # "true" when tracked files had uncommitted changes: the commit alone does not say
    )
    AIRFLOW_DAG_ID = "airflow_dag_id"
    AIRFLOW_RUN_ID = "airflow_run_id"
    RETRAIN_REASON = "retrain_reason"
    TRIGGER_NIGHT = "trigger_night"
    TRIGGER_WINDOW_END = "trigger_window_end"
    DATA_WINDOW = "data_window"
    REFERENCE_WINDOW = "reference_window"
    MODEL_SHA256 = "model_sha256"  # sha256 of the skops model file, recorded at registration
    STAGE = "stage"  # RunStage below
    PROCESS = "process"  # host:pid of the training process (a later training fails runs whose process died)
    HEARTBEAT = "heartbeat"  # UTC time a running training last said it was alive (any host checks staleness)
    BEST_CANDIDATE = "best_candidate"
    EVALUATES_RUN = "evaluates_run"  # on a re-evaluation run: the training run it evaluates again
    GATE_PREFIX = "gate."  # gate.<check name>: "passed: reason" / "failed: reason"
    GATE_DECISION = "gate.decision"  # pending | promoted | rejected: reasons
    HOLDOUT_PREFIX = "holdout."  # holdout.<metric> on the version
    # The threshold chosen on the validation split by evaluate.decision_threshold's rule (run and version).
    DECISION_THRESHOLD = "decision_threshold"
    ROLLED_BACK = "rolled_back"
    MONITORED_MODEL = "monitored_model"
    MONITORED_VERSION = "monitored_version"  # on the monitoring series: the champion of its latest night
    MONITORING_SERIES = "monitoring_series"  # the registered model whose nights the run collects
    SERIES_START = "series_start"  # the series' step 0: its first recorded night (step = days since it)
    LAST_NIGHT = "last_night"
    DECISION_PREFIX = "decision."  # decision.<night> on the monitoring run
    # Deployment strategy of a challenger (serving/deployment.py): the one in force, the last change as JSON
    # (who, when, from, to, reason) and, after an automatic canary rollback, its reasons.
    DEPLOY_STRATEGY = "deploy.strategy"
    DEPLOY_LAST_CHANGE = "deploy.last_change"
    DEPLOY_ROLLBACK = "deploy.rollback"
    # deploy_model's rollout of a challenger the gate handed over (issue 25), on the challenger's version:
    ROLLOUT_STAGE = "rollout.stage"  # RolloutStage below
    ROLLOUT_SINCE = "rollout.since"  # the night the current stage began
    ROLLOUT_STEP_PREFIX = "rollout.step."  # rollout.step.<night>: "<stage> <action>: checks and figures"
    # On the version in rollout, when the gate gave the `challenger` alias back to it from a version the gate did
    # not take (a retraining during the rollout): when, from which version, why and by whom.
    ROLLOUT_ALIAS_BACK = "rollout.alias_back"
    # The nightly A/B decision on the challenger's version: the test's verdict, and the night's figures as JSON.
    AB_TEST_VERDICT = "ab_test.verdict"
    AB_TEST_RESULT = "ab_test.result"
    # The nightly bandit update on the challenger's version: the weights in force (JSON), the night's summary.
    BANDIT_WEIGHTS = "bandit.weights"
    BANDIT_LAST_UPDATE = "bandit.last_update"


# Lineage copied from the training run onto the registered version.
LINEAGE_TAGS = (
    Tag.DVC_DATA_HASH,
    Tag.GIT_COMMIT,
    Tag.GIT_DIRTY,
    Tag.AIRFLOW_DAG_ID,
    Tag.AIRFLOW_RUN_ID,
    Tag.RETRAIN_REASON,
    Tag.TRIGGER_NIGHT,
    Tag.DATA_WINDOW,
    Tag.REFERENCE_WINDOW,
)


class RunStage:
    """Values of the `stage` tag on training runs."""

    CHALLENGER = "challenger"  # the refitted best candidate: the run a version is registered from
    PROMOTED = (
        "promoted"  # a challenger run whose version was promoted (the alias says if it still is champion)
    )
    CANDIDATE = "candidate"  # one search-space candidate (a child run)
    EVALUATION = "evaluation"  # a re-evaluation of a training run that already has its holdout metrics


GATE_PENDING = "pending"
GATE_PROMOTED = "promoted"
# The first word of a gate decision that rejected the version ("rejected: <reasons>"); train_model alerts on it.
GATE_REJECTED = "rejected"


def gate_rejection(reasons: str) -> str:
    """The gate decision of a rejected version."""
    return f"{GATE_REJECTED}: {reasons}"


# With deploy.require_proof, a version that passed every gate is handed to deploy_model instead of promoted.
GATE_HANDED_OVER = "handed to deploy_model"


class RolloutStage:
    """Values of the `rollout.stage` tag: shadow -> canary -> full, or rolled back from either, or superseded
    (another version was handed over, or started by hand, while this one was in shadow or canary)."""

    SHADOW = "shadow"
    CANARY = "canary"
    FULL = "full"
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"
    # The stages of a rollout in progress (the others have ended it).
    ACTIVE = (SHADOW, CANARY)


# --- orchestration: DAG ids, the DVC pool, connection ids ---------------------------------------------------
INGEST_DAG_ID = "ingest"
TRAIN_DAG_ID = "train_model"
MONITOR_DAG_ID = "monitor_nightly"
SIMULATE_DAG_ID = "simulate_source"
DEPLOY_DAG_ID = "deploy_model"
DAG_IDS = (INGEST_DAG_ID, TRAIN_DAG_ID, MONITOR_DAG_ID, SIMULATE_DAG_ID, DEPLOY_DAG_ID)

# Serialises everything that writes the DVC workspace or the model registry (one slot).
DVC_POOL = "dvc_repo"
DVC_POOL_SLOTS = 1
DVC_POOL_DESCRIPTION = "Serialises writes to the DVC workspace and the model registry"

# Where train_model finds the scoring service to ask for POST /admin/reload after a promotion (the stack sets it;
# default: serving.host and $MLOPS_SERVING_PORT or serving.port). The token: serving.settings.ENV_ADMIN_TOKEN(_FILE).
SERVING_URL_ENV = "MLOPS_SERVING_URL"
# `make run` on your own table: the source database URL (the stack then skips the simulator and its seeding)
SOURCE_URL_ENV = "MLOPS_SOURCE_URL"
# A YAML file of params.yaml keys laid over params.yaml by every reader (`load_params`), e.g. the deploy rehearsal's
# shorter label delay, without editing the committed file; `make run` hands it to every process of the stack.
PARAMS_OVERRIDE_ENV = "MLOPS_PARAMS_OVERRIDE"
# Host names the scoring service and the Evidently UI answer to besides 127.0.0.1 and localhost (comma-separated).
ALLOWED_HOSTS_ENV = "MLOPS_ALLOWED_HOSTS"

# The source table, and the prediction log + decision record.
SOURCE_CONN_ID = "source_db"
MONITORING_CONN_ID = "monitoring_db"


def conn_env_var(conn_id: str) -> str:
    """The environment variable that defines an Airflow connection (`AIRFLOW_CONN_<ID>`)."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class RetrainConf:
    """Keys of the conf monitor_nightly gives the train_model run it triggers (read back as lineage tags)."""

    REASON = "reason"  # why the retraining runs (the night's decision reasons)
    NIGHT = "night"  # the monitored night (YYYY-MM-DD)
    WINDOW_END = "window_end"  # the newest day whose labels have matured
    MONITOR_RUN_ID = "monitor_run_id"  # the monitor_nightly run that triggered it (the notes link both ways)


class TriggerEnv:
    """Environment of the training subprocess (`dvc repro`): why it runs, recorded as the run's lineage tags."""

    REASON = "MLOPS_TRIGGER_REASON"
    NIGHT = "MLOPS_TRIGGER_NIGHT"
    WINDOW_END = "MLOPS_TRIGGER_WINDOW_END"


def retrain_run_id(night: str) -> str:
    """The run id of the train_model run that monitoring triggers for a night (YYYY-MM-DD)."""
    return f"retrain__{night}"


# The XCom key a task pushes its run's note under; the plugin's listener writes it on the DAG run when it ends.
RUN_NOTE_XCOM_KEY = "run_note"

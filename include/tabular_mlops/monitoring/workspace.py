"""Step 6 of a night, its reports published: the Evidently workspace (`evidently ui --workspace <dir>`): one project per model, each night's report snapshots
stamped with the night, so the project dashboard plots drift over nights. Re-running a night replaces its
snapshots, including kinds the re-run no longer makes (an index file maps night and kind to the snapshot id)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import MonitorConfig
from tabular_mlops.monitoring.estimate_panel import (
    ESTIMATE_KIND,
    REALIZED,
    estimate_panel,
    estimate_snapshot,
    has_estimate,
)
from tabular_mlops.monitoring.nights_chart import (
    NightPoint,
    chart_widgets,
    first_labels_sentence,
    prepend_widgets,
)

log = logging.getLogger(__name__)

INDEX_FILE = "tabular_mlops_snapshots.json"
# Each published night's champion and decision (the dashboard's decisions-and-promotions panel).
NIGHTS_FILE = "tabular_mlops_nights.json"


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard draws: params.yaml's thresholds and key features."""

    drift_share_threshold: float
    score_psi_threshold: float
    psi_significant: float
    key_features: tuple[str, ...]
    # params.yaml wording.positive_rate (or "rate of <target> = 1"): the matured-label rate panel's words.
    positive_rate: str = "positive rate"
    # schema.label_delay_days: when the first matured labels come ("first matured labels on <date>").
    label_delay_days: int = 0

    @classmethod
    def of(
        cls, monitor: MonitorConfig, label_delay_days: int = 0, positive_rate: str = "positive rate"
    ) -> DashboardSettings:
        return cls(
            monitor.drift_share_threshold,
            monitor.score_psi_threshold,
            monitor.psi_significant,
            tuple(monitor.key_features),
            positive_rate=positive_rate,
            label_delay_days=label_delay_days,
        )


# When a night was monitored: a drill or a backfill monitors past nights after today's, and a champion change is a
# change between two consecutive monitoring runs, not between two nights' dates.
MONITORED_AT = "monitored_at"


def drift_share_title(threshold: float) -> str:
    """The dashboard's drift share panel title (the browser checks and the docs' screenshots find it by it).
    Drift above the threshold retrains only when it hurts the champion (issue 24): not "retrain above"."""
    return f"Share of drifted columns: drift above {threshold}"


def _history_text(nights: dict[str, dict[str, Any]], last: int = 20) -> str:
    """Retrain decisions, promotions and concept-drift alerts, newest first. A promotion is dated by the night
    whose retraining made it (as Airflow and `tabular-mlops why` date it), not by the next night, the first its new
    champion judged. An alert is listed on the night it was raised (the first of a run of nights it stands on):
    the stack's concept-drift drill raised it on a cooldown night, which no other panel showed."""
    lines: list[str] = []
    previous: str | None = None
    deciding: str | None = None
    alerting = False
    for night in sorted(nights, key=lambda n: (nights[n].get(MONITORED_AT, ""), n)):
        champion = nights[night].get("champion")
        alert = nights[night].get("self_check") or ""
        if alert and not alerting:
            lines.append(f"{night}: {alert} (champion {champion})")
        alerting = bool(alert)
        if previous is not None and champion != previous:
            by = f"the retraining decided on {deciding}" if deciding else "a retraining outside monitoring"
            lines.append(f"{deciding or night}: promotion, {champion} replaces {previous} ({by})")
            deciding = None
        if nights[night].get("decision") == "retrain":
            lines.append(f"{night}: retrain decided (champion {champion})")
            deciding = night
        previous = champion
    return " | ".join(reversed(lines[-last:])) or "no retrain decision, promotion or alert yet"


def _decided(nights: dict[str, dict[str, Any]], last: int = 10) -> str:
    """What the newest nights decided, oldest first ("2026-03-17 retrain, 2026-03-18 cooldown"): the bars beside
    it cannot say it (see `_dashboard`)."""
    newest = sorted(nights)[-last:]
    return ", ".join(f"{n} {nights[n].get('mark') or nights[n].get('decision', '?')}" for n in newest)


def _dashboard(project: Any, settings: DashboardSettings | None, nights: dict[str, dict[str, Any]]) -> None:
    """(Re)build the project's dashboard, in the order the README describes: decision, features, performance.

    Bars, not lines: Evidently 0.7's line panels smooth the curve, draw a single night on the zero gridline and
    have no threshold line or per-night marker. A bar rises from 0, one a night; the thresholds are in the titles,
    and each night's drift report opens with the line chart that draws them with a mark per decision.

    One series a panel: Evidently 0.7's local storage keys a panel's series by metric and parameters, and checks
    a snapshot's tags against the first series of the panel that names its metric only, so a panel split into one
    series per decision (tag `mark=...`) drew the first decision's nights alone and dropped the others (seen in a
    browser: the cooldown night after a retraining had no bar). What each night decided is written beside."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, text_panel

    from tabular_mlops.monitoring.evidently_reports import stattest_name

    s = settings or DashboardSettings(0.3, 0.25, 0.25, ())
    share = {"metric": "DriftedColumnsCount", "metric_labels": {"value_type": "share"}}
    psi = stattest_name("psi")
    points = [NightPoint.from_dict({"night": n, **v}) for n, v in nights.items()]
    labels_sentence = first_labels_sentence(points, s.label_delay_days, s.positive_rate)
    panels = [
        text_panel(
            "How to read this dashboard",
            "One bar a night, from 0; what each night decided (keep: no rule fired, or drifted while the "
            "champion performs, as estimated or on matured labels; retrain; cooldown: retraining called for but "
            "kept by the cooldown; in flight; hold) is listed under the first chart and in Decisions and "
            "promotions. Each night's drift report (Reports) opens with its banner (night, champion, decision, "
            "rows) and the line chart over the nights with the threshold and a mark per decision.",
        ),
        bar_plot_panel(
            drift_share_title(s.drift_share_threshold),
            [PanelMetric(legend="drift share", tags=["kind=drift"], **share)],
            description=f"the decision's drift share (project tests, params.yaml); a bar above "
            f"{s.drift_share_threshold} on a night with enough rows is drift: it retrains when the champion is "
            "estimated to lose more than monitor.max_estimated_drop (or matured labels show it underperforming), "
            f"unless the cooldown holds it. Decided: {_decided(nights) or 'no night yet'}",
        ),
        text_panel("Decisions and promotions (and alerts), newest first", _history_text(nights), size="half"),
        bar_plot_panel(
            f"Score drift (PSI): drift above {s.score_psi_threshold}",
            [
                PanelMetric(
                    legend="score PSI",
                    tags=["kind=drift"],
                    metric="ValueDrift",
                    metric_labels={"column": "score"},
                )
            ],
            description="champion scores of the current window vs its training data, the decision's PSI",
            size="half",
        ),
        bar_plot_panel(
            "Rows in the current window (the decision's rows)",
            [PanelMetric(legend="rows", metric="RowCount", tags=["kind=drift"])],
            size="half",
        ),
        bar_plot_panel(
            f"PSI of the key features (significant above {s.psi_significant})",
            [
                PanelMetric(legend=f, metric="ValueDrift", metric_labels={"column": f, "method": psi})
                for f in s.key_features
            ],
        ),
        *([estimate_panel()] if any(has_estimate(p) for p in points) else []),
        # Until the first labels mature, a sentence says when; their charts would be empty boxes.
        *(
            [text_panel("Matured labels", labels_sentence)]
            if labels_sentence
            else [
                bar_plot_panel(
                    "Matured-label ROC AUC (current champion)",
                    [PanelMetric(legend="ROC AUC", metric="RocAuc")],
                    size="half",
                ),
                bar_plot_panel(
                    f"Matured {s.positive_rate}",
                    [
                        PanelMetric(
                            legend=s.positive_rate, metric="MeanValue", metric_labels={"column": "label"}
                        )
                    ],
                    size="half",
                ),
            ]
        ),
    ]
    project.dashboard.clear_dashboard()
    # One page: Evidently 0.7's UI does not render dashboard tabs, so the order above is the reading order.
    for panel in panels:
        project.dashboard.add_panel(panel)


def project_for(workspace: Any, name: str, description: str) -> Any:  # Evidently Workspace -> Project
    found = workspace.search_project(name)
    if found:
        return found[0]
    project = workspace.create_project(name, description=description)
    _dashboard(project, None, {})
    return project


def open_workspace(workspace_dir: Path) -> Any:  # an Evidently Workspace
    """Evidently's local workspace at `workspace_dir`, for adding and deleting snapshots and rebuilding dashboards.

    `Workspace(path)` also builds a dataset manager that parses every stored snapshot when it is created: one more
    night's worth each night, so the nightly publish grew slower with the workspace's age (8 s on the first of
    40 test nights, 15 s on the last). Snapshots, projects and dashboards go through the workspace's file state
    alone; the dataset manager serves only `add_dataset`, which is never called here.

    A snapshot is written with `json.dumps` (the C encoder, one string), not Evidently's `json.dump` (the pure-Python
    encoder, one write per token): the same bytes, in a quarter of the CPU time (0.18 -> 0.04 s for a 1.4 MB drift
    snapshot), several snapshots a night."""
    from evidently.legacy.utils import NumpyEncoder
    from evidently.ui.storage.local.base import LocalState
    from evidently.ui.workspace import Workspace

    class OneStringState(LocalState):
        def write_snapshot(self, project_id: Any, snapshot_id: Any, snapshot: Any) -> None:
            self.location.makedirs(self._snapshot_dir(project_id))
            text = json.dumps(snapshot.dict(), cls=NumpyEncoder)
            with self.location.open(self._snapshot_path(project_id, snapshot_id), "w") as f:
                f.write(text)

    class SnapshotWorkspace(Workspace):
        def __init__(self, path: str) -> None:  # no super().__init__: it is the dataset manager's full reload
            self.path = path
            self.state = OneStringState(path)

    workspace_dir.mkdir(parents=True, exist_ok=True)
    return SnapshotWorkspace(str(workspace_dir))


def publish_night(
    workspace_dir: Path,
    project_name: str,
    night: dt.date,
    snapshots: dict[str, object],
    settings: DashboardSettings | None = None,
    labels: dict[str, str] | None = None,
    point: NightPoint | None = None,
    realized: dict[str, float] | None = None,
) -> dict[str, str]:
    """Add the night's snapshots (kind -> evidently Snapshot) to the project; a re-run replaces them. With
    `settings`, the dashboard is rebuilt (thresholds, key features, the nights' decisions and champions from
    `labels`: champion, decision, mark) and the drift report opens with the chart of the nights' `point`s; a
    point with an estimate adds the night's `estimate` snapshot. `realized` (night -> realized ROC AUC of its
    window, whose labels matured tonight) is set on those nights, whose estimate snapshots are made again."""
    workspace = open_workspace(workspace_dir)
    nights_path = workspace_dir / NIGHTS_FILE
    nights = json.loads(nights_path.read_text()) if nights_path.exists() else {}
    matured = {n: v for n, v in (realized or {}).items() if n in nights or n == night.isoformat()}
    if settings is not None and labels:
        extra = point.to_dict() if point is not None else {}
        # A re-run night keeps the realized figure an earlier night's matured labels gave it.
        if extra.get(REALIZED) is None and nights.get(night.isoformat(), {}).get(REALIZED) is not None:
            extra[REALIZED] = nights[night.isoformat()][REALIZED]
        nights[night.isoformat()] = {**extra, **labels, MONITORED_AT: dt.datetime.now(dt.UTC).isoformat()}
        for matured_night, value in matured.items():
            nights[matured_night][REALIZED] = value
        points = [NightPoint.from_dict({"night": n, **v}) for n, v in nights.items()]
        if point is not None and "drift" in snapshots:
            charts = chart_widgets(points, settings.drift_share_threshold, settings.score_psi_threshold)
            prepend_widgets(snapshots["drift"], charts)
        tonight = NightPoint.from_dict({"night": night.isoformat(), **nights[night.isoformat()]})
        made = estimate_snapshot(tonight, points, labels, settings.label_delay_days)
        if made is not None:
            snapshots = {**snapshots, ESTIMATE_KIND: made}
    project = project_for(workspace, project_name, "Nightly monitoring reports written by monitor_nightly")
    index_path = workspace_dir / INDEX_FILE
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    # Drop every snapshot of this night first (a re-run may make fewer kinds), then record each new one as it
    # lands, so a failure part-way leaves no snapshot the next re-run cannot find.
    prefix = f"{project.id}/{night.isoformat()}/"
    stored = {str(s) for s in workspace.list_runs(project.id)}
    for key in [k for k in index if k.startswith(prefix)]:
        if index[key] in stored:
            workspace.delete_run(project.id, index[key])
        del index[key]
    atomic_write_json(index_path, index)
    published = {}
    about = f" (champion {labels['champion']}, {labels.get('mark') or labels['decision']})" if labels else ""
    for kind, snapshot in snapshots.items():
        ref = workspace.add_run(project.id, snapshot, name=f"{night.isoformat()} {kind}{about}")
        index[prefix + kind] = published[kind] = str(ref.id)
        atomic_write_json(index_path, index)
    if settings is not None:
        if labels:
            atomic_write_json(nights_path, nights)
            _remake_estimates(workspace, project.id, index, index_path, nights, matured, night, settings)
        _dashboard(project, settings, nights)
    return published


def _remake_estimates(
    workspace: Any,
    project_id: Any,
    index: dict[str, str],
    index_path: Path,
    nights: dict[str, dict[str, Any]],
    matured: dict[str, float],
    tonight: dt.date,
    settings: DashboardSettings,
) -> None:
    """The estimate snapshots of the earlier nights whose labels matured tonight, made again with the realized
    figure, so their dashboard bars and charts show it where the estimate was made."""
    points = [NightPoint.from_dict({"night": n, **v}) for n, v in nights.items()]
    stored = {str(s) for s in workspace.list_runs(project_id)}
    for matured_night in sorted(set(matured) - {tonight.isoformat()}):
        entry = nights[matured_night]
        labels: dict[str, str] = {
            k: str(entry[k]) for k in ("night", "champion", "decision", "mark") if k in entry
        }
        point = NightPoint.from_dict({"night": matured_night, **entry})
        snapshot = estimate_snapshot(point, points, labels, settings.label_delay_days)
        if snapshot is None:
            continue
        key = f"{project_id}/{matured_night}/{ESTIMATE_KIND}"
        if index.get(key) in stored:
            workspace.delete_run(project_id, index[key])
        about = (
            f" (champion {labels.get('champion', '')}, {labels.get('mark') or labels.get('decision', '')})"
        )
        ref = workspace.add_run(project_id, snapshot, name=f"{matured_night} {ESTIMATE_KIND}{about}")
        index[key] = str(ref.id)
        atomic_write_json(index_path, index)


def night_reports(workspace_dir: Path, night: dt.date) -> dict[str, str]:
    """The night's published snapshots as kind -> "project_id/snapshot_id" (for links into the Evidently UI)."""
    index_path = workspace_dir / INDEX_FILE
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    found = {}
    for key, snapshot_id in index.items():
        project_id, key_night, kind = key.split("/", 2)
        if key_night == night.isoformat():
            found[kind] = f"{project_id}/{snapshot_id}"
    return found


@dataclass(frozen=True)
class Published:
    """What publishing a night left: its snapshots (kind -> "project_id/snapshot_id", the run note's links) and
    the problems met (alerted, never fatal)."""

    snapshots: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def publish_reports(
    workspace_dir: Path,
    project_name: str,
    night: dt.date,
    made: dict[str, tuple[Path, object]],
    monitor: MonitorConfig,
    labels: dict[str, str],
    point: NightPoint | None = None,
    label_delay_days: int = 0,
    positive_rate: str = "positive rate",
    realized: dict[str, float] | None = None,
) -> Published:
    """Publish the night's reports (kind -> (HTML path, snapshot)). The workspace is a second view of the same
    reports: a failure there is a problem to alert, not fatal. `positive_rate`: params.yaml's wording for the
    base rate, the matured-label rate panel's title; `realized`: night -> realized ROC AUC of the windows whose
    labels matured tonight (their estimate snapshots gain it)."""
    if not made and not workspace_dir.exists():
        return Published()
    problems: tuple[str, ...] = ()
    try:
        # A re-run night without data still clears the snapshots an earlier run of it left.
        snapshots = {kind: snapshot for kind, (_, snapshot) in made.items()}
        settings = DashboardSettings.of(monitor, label_delay_days, positive_rate)
        publish_night(workspace_dir, project_name, night, snapshots, settings, labels, point, realized)
    except Exception as exc:  # noqa: BLE001 - any workspace error becomes an alert with its reason
        log.warning("Evidently workspace not updated for %s: %s", night, exc)
        problems = (f"Evidently workspace {workspace_dir} not updated: {exc}",)
    return Published(night_reports(workspace_dir, night) if made else {}, problems)

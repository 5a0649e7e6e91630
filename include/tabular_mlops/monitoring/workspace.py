"""The Evidently workspace (`evidently ui --workspace <dir>`): one project per model, each night's report snapshots
stamped with the night, so the project dashboard plots drift over nights. Re-running a night replaces its
snapshots, including kinds the re-run no longer makes (an index file maps night and kind to the snapshot id)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from tabular_mlops.io import atomic_write_json

INDEX_FILE = "tabular_mlops_snapshots.json"


def _dashboard(project: Any) -> None:  # an Evidently Project
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    project.dashboard.add_panel(
        line_plot_panel(
            "Share of drifted columns",
            [
                PanelMetric(
                    legend="share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"}
                )
            ],
            description="Evidently's own tests on the report sample; the retrain decision uses drift_share in "
            "MLflow (full window, PSI/KS with effect size)",
        ),
        tab="Drift",
    )
    project.dashboard.add_panel(
        line_plot_panel(
            "Score drift (PSI)",
            [PanelMetric(legend="score", metric="ValueDrift", metric_labels={"column": "score"})],
            description="champion scores of the current window vs its training data",
        ),
        tab="Drift",
    )


def project_for(workspace: Any, name: str, description: str) -> Any:  # Evidently Workspace -> Project
    found = workspace.search_project(name)
    if found:
        return found[0]
    project = workspace.create_project(name, description=description)
    _dashboard(project)
    return project


def publish_night(
    workspace_dir: Path, project_name: str, night: dt.date, snapshots: dict[str, object]
) -> dict[str, str]:
    """Add the night's snapshots (kind -> evidently Snapshot) to the project; a re-run replaces them."""
    from evidently.ui.workspace import Workspace

    workspace_dir.mkdir(parents=True, exist_ok=True)
    workspace = Workspace.create(str(workspace_dir))
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
    for kind, snapshot in snapshots.items():
        ref = workspace.add_run(project.id, snapshot, name=f"{night.isoformat()} {kind}")
        index[prefix + kind] = published[kind] = str(ref.id)
        atomic_write_json(index_path, index)
    return published


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

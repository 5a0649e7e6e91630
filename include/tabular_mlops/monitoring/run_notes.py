"""Airflow run notes: what a monitoring or training run decided, why, and links to the pages that show it.

The package writes the note (Markdown, at most `MAX_NOTE` characters: Airflow's dag_run_note column); the task
pushes it to XCom under `RUN_NOTE_KEY`, and the plugin's listener copies it onto the DAG run when the run ends
(the Task SDK has no database access, the scheduler does). Links point at the local stack's UIs (ports from
MLOPS_*_PORT; the MLflow UI from MLOPS_MLFLOW_URL, else MLFLOW_TRACKING_URI when it is a server); without a server
a link is left out. Links to another Airflow run (a monitoring night and the training it triggered, both ways) are
paths on the UI that shows the note, so they work on any host and port. The tasks' extra links (plugins/) are
built with the same `Links`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tabular_mlops.core.contracts import MONITOR_DAG_ID, TRAIN_DAG_ID, RetrainConf, retrain_run_id
from tabular_mlops.monitoring.estimate_panel import ESTIMATE_KIND
from tabular_mlops.monitoring.estimate_records import NightEstimate
from tabular_mlops.monitoring.note_markdown import MAX_NOTE, Note
from tabular_mlops.monitoring.results import Action, NightResult, ShadowComparison
from tabular_mlops.monitoring.rollout_verdict import RolloutStep

# The collapsed note shows its first line: a longer first reason stays in the list only.
HEADLINE_MAX = 160


@dataclass(frozen=True)
class Links:
    """Base URLs of the MLflow and Evidently UIs (None: not served, no link), and of the Airflow UI ("": the
    links are paths on the UI that shows the note)."""

    mlflow: str | None = None
    evidently: str | None = None
    airflow: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Links:
        # MLOPS_MLFLOW_URL: where a browser reaches the UI when the tasks track elsewhere (a container's host
        # name, a database store read by a separate UI server).
        uri = environ.get("MLOPS_MLFLOW_URL") or environ.get("MLFLOW_TRACKING_URI", "")
        mlflow = uri.rstrip("/") if uri.startswith(("http://", "https://")) else None
        port = environ.get("MLOPS_EVIDENTLY_PORT", "8000")
        evidently = environ.get("MLOPS_EVIDENTLY_URL") or f"http://127.0.0.1:{port}"
        airflow = environ.get("MLOPS_AIRFLOW_URL", "")
        return cls(mlflow=mlflow, evidently=evidently.rstrip("/"), airflow=airflow.rstrip("/"))

    def airflow_run(self, dag_id: str, run_id: str) -> str:
        """The Airflow UI's page of a DAG run (run ids hold ':' and '+': quoted)."""
        return f"{self.airflow}/dags/{dag_id}/runs/{quote(run_id, safe='')}"

    def mlflow_run(self, experiment_id: str | None, run_id: str) -> str | None:
        if not self.mlflow or not experiment_id:
            return None
        return f"{self.mlflow}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_version(self, model: str, version: str | None) -> str | None:
        if not self.mlflow or not version:
            return None
        return f"{self.mlflow}/#/models/{model}/versions/{version}"

    def evidently_report(self, project_id: str, snapshot_id: str) -> str | None:
        return f"{self.evidently}/projects/{project_id}/reports/{snapshot_id}" if self.evidently else None

    def evidently_dashboard(self, project_id: str) -> str | None:
        return f"{self.evidently}/projects/{project_id}" if self.evidently else None


def _headline(action: str, what: str, first_reason: str | None) -> str:
    """The line Airflow shows while the note is collapsed: the decision, and its first reason when it is short
    enough to read there whole (it is in the list below in any case)."""
    line = f"**{action}** {what}"
    if first_reason and len(line) + len(first_reason) + 2 <= HEADLINE_MAX:
        line += f": {first_reason}"
    return line


def shadow_line(shadow: ShadowComparison) -> str:
    """The paired shadow comparison in one line: how alike on the window, the loss difference on matured labels
    with its interval, and the always-valid test's verdict."""
    head = f"shadow v{shadow.challenger_version} vs champion v{shadow.champion_version}"
    parts: list[str] = []
    recent = shadow.recent
    if recent is not None:
        agreement = "n/a" if recent.decision_agreement is None else f"{recent.decision_agreement:.1%}"
        psi = "n/a" if recent.score_psi is None else f"{recent.score_psi:.3f}"
        parts.append(f"{recent.rows} pairs, decision agreement {agreement}, score PSI {psi}")
    if shadow.matured is not None:
        parts += [d.reason for d in shadow.matured.differences if d.metric in (shadow.loss, "roc_auc")]
    if shadow.test is not None:
        parts.append(f"test: {shadow.test.verdict} ({shadow.test.reasons[0] if shadow.test.reasons else ''})")
    else:
        parts += list(shadow.reasons)
    return f"{head}: {'; '.join(parts)}"


def estimate_figures(estimate: NightEstimate) -> list[tuple[str, str]]:
    """The estimate in the note's table: `estimated ROC AUC | 0.78 [0.76, 0.80] (CBPE)` (or why there is none).
    The rest (the value, realized figures, grades) is in the night's record and MLflow: the note's 1000
    characters go to the reasons first."""
    harm = estimate.harm
    if harm.method is None or harm.estimate is None:
        return [("estimate", estimate.headline())]
    return [("estimated ROC AUC", estimate.headline().removeprefix("estimated ROC AUC "))]


def night_note(
    result: NightResult,
    model: str,
    links: Links,
    experiment_id: str | None,
    reports: Mapping[str, str],
    drift_share_threshold: float,
) -> str:
    """The monitoring run's note: the decision, a table of its figures, the reasons as a list, then links (MLflow
    run, champion version, Evidently reports: kind -> "project_id/snapshot_id"), each on its own line."""
    summary, window = result.summary, result.summary.window
    action = str(result.action or summary.status).upper()
    reasons = result.decision.reasons
    figures: list[tuple[str, str]] = [("rows in the window", str(summary.rows))]
    # The training this night starts (monitor_nightly triggers it under a run id named by the night): listed
    # first among the links, which are the last thing a long note leaves out.
    started: tuple[tuple[str, str | None], ...] = ()
    if result.action is Action.RETRAIN:
        training = retrain_run_id(summary.night.isoformat())
        started = (
            (f"training it started: {TRAIN_DAG_ID} {training}", links.airflow_run(TRAIN_DAG_ID, training)),
        )
    if window is not None:
        figures += [
            ("drift share", f"{window.drift_share:.4f} (threshold {drift_share_threshold})"),
            ("score PSI", f"{window.score_psi:.4f}"),
        ]
    if summary.last_night is not None:
        figures.append(("newest night alone", f"drift share {summary.last_night.drift_share:.4f}"))
    if result.estimate is not None:
        figures += estimate_figures(result.estimate)
    # The estimator's self-check (concept drift suspected) is a paragraph of its own, not one reason among the
    # list: a long night keeps only the decision's first reason, and the alert is what the night is about.
    self_check = result.estimate.concept_drift[:1] if result.estimate is not None else ()
    return Note(
        _headline(
            action,
            f"night {summary.night}, champion v{result.champion_version}",
            reasons[0] if reasons else None,
        ),
        figures=tuple(figures),
        items=tuple(r for r in reasons if r not in self_check),
        extra=(
            *(f"**{r}**" for r in self_check),
            *((shadow_line(result.shadow),) if result.shadow is not None else ()),
        ),
        # The training it started, the MLflow run and the champion outrank the shadow line; the reports do not.
        essential_links=len(started) + 2,
        links=(
            *started,
            ("MLflow monitoring run", links.mlflow_run(experiment_id, result.monitoring_run_id)),
            (f"model v{result.champion_version}", links.model_version(model, result.champion_version)),
            *(
                (f"Evidently {kind} report", links.evidently_report(*ref.split("/", 1)))
                for kind, ref in _reports_in_order(reports, alerting=bool(self_check))
            ),
        ),
        # Plain text, no inline code: Airflow draws a code span's box over the line above it, hiding the
        # underscores of the reason there ("monitor.max_estimated_drop" read "monitor.max estimated drop").
        full_list_at=f"tabular-mlops why --night {summary.night}",
    ).render(MAX_NOTE)


def _reports_in_order(reports: Mapping[str, str], alerting: bool) -> list[tuple[str, str]]:
    """The report links as the note lists them (a long note drops the last first): on a night the self-check
    alert stands, the estimate report (whose chart draws the realized figures below the estimates) comes first;
    on the stack's concept-drift drill the alert night's note kept the drift report's link and lost that one."""
    ordered = list(reports.items())
    return sorted(ordered, key=lambda kv: kv[0] != ESTIMATE_KIND) if alerting else ordered


def training_note(
    conf: Mapping[str, Any],
    result: Mapping[str, Any],
    model: str,
    links: Links,
    experiment_id: str | None,
    run_id: str | None,
) -> str:
    """The training run's note: the gate's decision on the version it registered, why it ran (the monitoring
    night and its reasons, as a list), each gate's verdict, links to the MLflow run and the model version."""
    version = str(result.get("version", "")) or None
    verdict = "PROMOTED" if result.get("promoted") else "NOT PROMOTED"
    decision = str(result.get("decision", ""))
    # The gate's decision beside the verdict when it says more than the verdict ("PROMOTED v2: promoted" did not).
    said = decision if decision.strip().lower() != verdict.lower() else ""
    # The monitoring decision's reasons arrive joined by "; " in the trigger's conf.
    why = [r.strip() for r in str(conf.get("reason") or "scheduled").split("; ") if r.strip()]
    trigger = (
        f"monitoring night {conf[RetrainConf.NIGHT]}"
        if conf.get(RetrainConf.NIGHT)
        else "no monitoring night"
    )
    # The monitoring run that started this training (its run id is in the trigger's conf), first among the links.
    monitor_run = str(conf.get(RetrainConf.MONITOR_RUN_ID) or "")
    started_by = (
        ((f"started by: {trigger} ({MONITOR_DAG_ID})", links.airflow_run(MONITOR_DAG_ID, monitor_run)),)
        if monitor_run
        else ()
    )
    gates = [
        f"{g['name']}: {'passed' if g['passed'] else 'failed'}: {g['reason']}"
        for g in result.get("gates", [])
    ]
    # A version the gate did not take gives the `challenger` alias back to a rollout in progress (or it goes).
    alias = str(result.get("challenger_alias") or "")
    return Note(
        _headline(verdict, f"v{version}", said or None),
        figures=(("version", f"v{version}"), ("started by", trigger)),
        extra=(f"{alias[:1].upper()}{alias[1:]}.",) if alias else (),
        # The first reason it ran, then the gates (they decided the version's fate), then the other reasons: those
        # are also on the monitoring night the first link opens, so they are the ones a long note leaves out. Eight
        # gates with their figures filled the note before any reason (the monitoring e2e's note said none).
        items=tuple([*(f"why: {r}" for r in why[:1]), *gates, *(f"why: {r}" for r in why[1:])]),
        items_title="The gates, and why it ran",
        links=(
            *started_by,
            ("MLflow training run", links.mlflow_run(experiment_id, run_id) if run_id else None),
            (f"model v{version}", links.model_version(model, version)),
        ),
        full_list_at="the gate_and_promote task's XCom and the model version's gate.* tags",
    ).render(MAX_NOTE)


def rollout_note(step: RolloutStep | None, why: str, model: str, links: Links) -> str:
    """deploy_model's note: the step's action and stages, then every check with its figures, and a link to the
    challenger's version (its `rollout.*` tags hold the same)."""
    if step is None:
        return Note(f"**NOTHING TO DEPLOY**: {why}").render(MAX_NOTE)
    checks = [
        f"{c.name}: {'passed' if c.passed else 'failed' if c.passed is False else 'waiting'}: {c.reason}"
        for c in step.checks
    ]
    return Note(
        f"**{str(step.action).upper()}** {model} v{step.challenger_version}: {step.stage} -> {step.next_stage} "
        f"on {step.night} (champion v{step.champion_version})",
        items=tuple(checks),
        items_title="Checks",
        links=((f"model v{step.challenger_version}", links.model_version(model, step.challenger_version)),),
        full_list_at=f"the rollout.* tags of model v{step.challenger_version}",
    ).render(MAX_NOTE)


def failed_note(dag_id: str, failed_tasks: list[str], conf: Mapping[str, Any], earlier: str | None) -> str:
    """A failed run's note: which tasks failed, why the run was started, and what was decided before."""
    why = [r.strip() for r in str(conf.get("reason") or "").split("; ") if r.strip()]
    return Note(
        f"**FAILED** {dag_id}: task(s) {', '.join(failed_tasks) or 'unknown'} failed (see their logs)",
        items=tuple(why),
        items_title="Why this run started",
        extra=(earlier,) if earlier else (),
        full_list_at="the run's conf",
    ).render(MAX_NOTE)


def experiment_of(run_id: str | None) -> str | None:
    """The MLflow experiment id of `run_id` (for its UI link), None when it cannot be found."""
    if not run_id:
        return None
    from mlflow import MlflowClient

    try:
        return str(MlflowClient().get_run(run_id).info.experiment_id)
    except Exception:  # noqa: BLE001 - a missing link must not fail the task
        return None

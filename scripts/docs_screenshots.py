"""Screenshots for the docs from the running local stack (make docs-screenshots), after a drill:

    make run && make drill SCENARIO=covariate_shift NIGHTS=3 && make drill SCENARIO=covariate_harmful NIGHTS=3
    make docs-screenshots

(covariate_harmful alone is enough for every shot: the docs' set shows both scenarios' nights.)

Headless Chromium from the system's packages (CHROMIUM overrides the binary), launched and logged in to Airflow as
the browser checks do (tabular_mlops.stack.browser, tests/browser/test_ui.py). Writes docs/img/*.png and docs/screenshots.md showing them; a page that
cannot be captured is named on stderr, the others are still written, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMG_DIR = ROOT / "docs" / "img"
PAGE = ROOT / "docs" / "screenshots.md"
TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Shot:
    """One screenshot: the file under docs/img/, its caption on the page, and how to open the page in a browser."""

    file: str
    title: str
    caption: str
    take: Callable[[Any, Stack], None]


@dataclass(frozen=True)
class Stack:
    """What the shots need from the running stack: URLs, the Airflow token, the model's name."""

    airflow_url: str
    airflow_token: str
    mlflow_url: str
    evidently_url: str
    serving_url: str
    model_name: str
    drift_share_threshold: float
    monitor_dag_id: str
    monitor_runs: tuple[dict[str, Any], ...]
    champion_alias: str
    id_column: str  # params.yaml schema.id_column: in the example body of POST /predict
    mlflow_login: tuple[
        str, str
    ]  # the stack's MLflow basic-auth user and password (var/mlflow/credentials.json)
    monitoring_experiment: str
    evidently_workspace: Path

    @classmethod
    def from_running_stack(cls) -> Stack:
        from tabular_mlops.core.config import load_params
        from tabular_mlops.core.contracts import CHAMPION, MONITOR_DAG_ID
        from tabular_mlops.stack.layout import Layout
        from tabular_mlops.stack.programs import airflow_api

        layout = Layout.from_env()
        params = load_params(layout.repo / "params.yaml")
        login = layout.mlflow_credentials()
        # The MLflow client reads its login from the environment, as the stack's tasks do.
        os.environ["MLFLOW_TRACKING_USERNAME"] = login.username
        os.environ["MLFLOW_TRACKING_PASSWORD"] = login.password
        api = airflow_api(layout)
        api.login()
        return cls(
            airflow_url=layout.airflow_url,
            airflow_token=api.token or "",
            mlflow_url=layout.mlflow_url,
            evidently_url=layout.evidently_url,
            serving_url=layout.serving_url,
            model_name=params.registry.model_name,
            drift_share_threshold=params.monitor.drift_share_threshold,
            monitor_dag_id=MONITOR_DAG_ID,
            monitor_runs=tuple(api.dag_runs(MONITOR_DAG_ID)),
            champion_alias=CHAMPION,
            id_column=params.schema.id_column,
            mlflow_login=(login.username, login.password),
            monitoring_experiment=params.monitor.experiment_name,
            evidently_workspace=layout.repo / params.paths.evidently_workspace,
        )


def airflow_run_note(browser: Any, stack: Stack) -> None:
    """The grid of monitor_nightly beside the run details of the last night that decided to retrain."""
    noted = [r for r in stack.monitor_runs if r.get("note")]
    if not noted:
        raise RuntimeError(f"no {stack.monitor_dag_id} run has a note: run `make drill` first")
    run = next((r for r in reversed(noted) if "RETRAIN" in r["note"]), noted[-1])
    from tabular_mlops.stack.browser import airflow_context

    context = airflow_context(browser, stack.airflow_url, stack.airflow_token)
    page = context.new_page()
    page.goto(
        f"{stack.airflow_url}/dags/{stack.monitor_dag_id}/runs/{run['dag_run_id']}", wait_until="networkidle"
    )
    page.get_by_text(run["note"].split("**")[1]).first.wait_for(timeout=TIMEOUT_MS)
    # The run page shows the note's first line; its button opens the whole note, rendered.
    page.get_by_role("button", name="Edit note").first.click()
    page.get_by_role("dialog").locator("table").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the dialog fades in: a shot taken at once shows it half transparent
    page.screenshot(path=str(IMG_DIR / "airflow_run_note.png"))
    context.close()


def mlflow_champion(browser: Any, stack: Stack) -> None:
    """The registered model's champion version: its aliases, gate tags and model card."""
    from mlflow import MlflowClient
    from tabular_mlops.stack.browser import close_mlflow_assistant

    version = MlflowClient(tracking_uri=stack.mlflow_url).get_model_version_by_alias(
        stack.model_name, stack.champion_alias
    )
    page = _mlflow_page(browser, stack)
    page.goto(
        f"{stack.mlflow_url}/#/models/{stack.model_name}/versions/{version.version}", wait_until="networkidle"
    )
    page.get_by_text(stack.champion_alias).first.wait_for(timeout=TIMEOUT_MS)
    close_mlflow_assistant(page)
    page.screenshot(path=str(IMG_DIR / "mlflow_champion.png"), full_page=True)
    page.close()


def _mlflow_page(browser: Any, stack: Stack) -> Any:
    from tabular_mlops.stack.browser import mlflow_context

    return mlflow_context(browser, *stack.mlflow_login).new_page()


def mlflow_monitoring_series(browser: Any, stack: Stack) -> None:
    """The monitoring series' drift share over the nights: one line across champions, a step per night."""
    from mlflow import MlflowClient
    from tabular_mlops.core.contracts import Tag

    client = MlflowClient(tracking_uri=stack.mlflow_url)
    experiment = client.get_experiment_by_name(stack.monitoring_experiment)
    if experiment is None:
        raise RuntimeError(f"no MLflow experiment {stack.monitoring_experiment}: run `make drill` first")
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.{Tag.MONITORING_SERIES} = '{stack.model_name}'"
    )
    from tabular_mlops.stack.browser import close_mlflow_assistant, mlflow_metric_page

    page = _mlflow_page(browser, stack)
    page.goto(mlflow_metric_page(stack.mlflow_url, run.info.run_id, experiment.experiment_id, "drift/share"))
    page.locator("div.js-plotly-plot path.js-line").first.wait_for(state="attached", timeout=TIMEOUT_MS * 3)
    close_mlflow_assistant(page)
    page.wait_for_timeout(2000)  # Plotly redraws to the freed width
    page.screenshot(path=str(IMG_DIR / "mlflow_monitoring_series.png"))
    page.close()


def evidently_nights_chart(browser: Any, stack: Stack) -> None:
    """The newest drift report: its banner and the chart of the nights (threshold line, a mark per decision)."""
    from tabular_mlops.monitoring.workspace import INDEX_FILE

    index = json.loads((stack.evidently_workspace / INDEX_FILE).read_text())
    newest = max((key for key in index if key.endswith("/drift")), key=lambda k: k.split("/")[1])
    project_id = newest.split("/")[0]
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.goto(
        f"{stack.evidently_url}/projects/{project_id}/reports/{index[newest]}", wait_until="networkidle"
    )
    page.locator("div.js-plotly-plot g.trace").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "evidently_nights_chart.png"))
    page.close()


def evidently_dashboard(browser: Any, stack: Stack) -> None:
    """The monitoring project's dashboard: drift share per night against the retrain threshold."""
    from tabular_mlops.stack.browser import wait_until_still

    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.goto(stack.evidently_url, wait_until="networkidle")
    page.get_by_text(f"{stack.model_name} monitoring").first.click()
    from tabular_mlops.monitoring.workspace import drift_share_title

    title = drift_share_title(stack.drift_share_threshold)
    page.get_by_text(title).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    wait_until_still(page, "rect.MuiBarElement-root", timeout_ms=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "evidently_dashboard.png"))
    page.close()


def serving_docs(browser: Any, stack: Stack) -> None:
    """The scoring service's OpenAPI page with POST /predict opened on its example body."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{stack.serving_url}/docs", wait_until="networkidle")
    predict = page.locator(".opblock-post", has_text="/predict").first
    predict.wait_for(timeout=TIMEOUT_MS)
    predict.locator(".opblock-summary").first.click()
    page.get_by_text(stack.id_column).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "serving_docs.png"))
    page.close()


SHOTS = (
    Shot(
        "airflow_run_note.png",
        "Airflow: a monitor_nightly run and its note",
        "The note of a `monitor_nightly` night that decided to retrain, opened from its run page: the decision, its "
        "figures (the estimated ROC AUC among them) and its first reason (the estimates' verdict on harm; the "
        "others counted, in full in `tabular-mlops why`), a link to the `train_model` run it started (whose note "
        "links back), and links to the MLflow run, the model version and the Evidently report.",
        airflow_run_note,
    ),
    Shot(
        "mlflow_champion.png",
        "MLflow: the champion version",
        "The registered model's `champion` version (here v2, promoted by the retraining of the drill's first "
        "harmful night): its alias and its model card, the data window, the DVC data hash and git commit it was "
        "trained from, the candidates searched and the holdout metrics beside the gate's thresholds (the gate's "
        "`gate.*` tags are further down the page).",
        mlflow_champion,
    ),
    Shot(
        "mlflow_monitoring_series.png",
        "MLflow: a monitoring metric over the nights",
        "The monitoring run of the registered model (`monitor credit_default`) collects every night whatever the "
        "champion: one step per night, so `drift/share` is one line across champions (`champion/version` is "
        "logged beside it).",
        mlflow_monitoring_series,
    ),
    Shot(
        "evidently_dashboard.png",
        "Evidently: the monitoring dashboard",
        "One bar a night from 0: the share of drifted columns against its threshold, with what each night decided "
        "written under the chart, then the decisions and promotions, score drift, the window's rows, the key "
        "features' PSI and the estimated ROC AUC.",
        evidently_dashboard,
    ),
    Shot(
        "evidently_nights_chart.png",
        "Evidently: a night's drift report",
        "Each drift report opens with its banner (night, champion, decision, the rows behind the figures) and the "
        "chart of the nights: the drift share from 0, the threshold as a dashed line, each night marked by what "
        "was decided.",
        evidently_nights_chart,
    ),
    Shot(
        "serving_docs.png",
        "The scoring service's /docs",
        "`POST /predict` with the request schema generated from `params.yaml` and a valid example body.",
        serving_docs,
    ),
)


def page_text(taken: list[Shot]) -> str:
    """docs/screenshots.md showing the shots taken, each with its caption."""
    lines = [
        "# Screenshots",
        "",
        "Taken from a running local stack by `make docs-screenshots` (`scripts/docs_screenshots.py`, headless "
        "Chromium), not drawn by hand, after `make drill SCENARIO=covariate_shift NIGHTS=3` (a harmless shift: "
        "three nights kept, drifted but performing as estimated) and then `make drill SCENARIO=covariate_harmful "
        "NIGHTS=3` (a harmful one: retrained on its first night, a new champion, then two cooldown nights).",
        "",
    ]
    for shot in taken:
        lines += [f"## {shot.title}", "", shot.caption, "", f"![{shot.title}](img/{shot.file})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=[s.file.removesuffix(".png") for s in SHOTS], action="append")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright
    from tabular_mlops.stack.browser import MISSING_CHROMIUM, chromium_binary, launch_chromium

    binary = chromium_binary()
    if binary is None:
        print(f"error: {MISSING_CHROMIUM}", file=sys.stderr)
        return 1

    stack = Stack.from_running_stack()
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in SHOTS if not args.only or s.file.removesuffix(".png") in args.only]
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, binary)
        for shot in wanted:
            try:
                shot.take(browser, stack)
                print(f"wrote docs/img/{shot.file}")
            except Exception as exc:  # noqa: BLE001 - one page that cannot be captured must not lose the others
                failed.append(shot.file)
                print(f"error: {shot.file}: {type(exc).__name__}: {exc}", file=sys.stderr)
        browser.close()
    taken = [s for s in SHOTS if (IMG_DIR / s.file).is_file()]
    PAGE.write_text(page_text(taken))
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(taken)} screenshots)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

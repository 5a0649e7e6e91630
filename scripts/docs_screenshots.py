"""Screenshots for the docs from the running local stack (make docs-screenshots), after a drill:

    make run && make drill SCENARIO=covariate_shift NIGHTS=2 && make docs-screenshots

Headless Chromium from the system's packages (CHROMIUM overrides the binary), driven by Playwright as the browser
checks do (tests/browser/test_ui.py). Writes docs/img/*.png and docs/screenshots.md showing them; a page that
cannot be captured is named on stderr, the others are still written, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
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

    @classmethod
    def from_running_stack(cls) -> Stack:
        from tabular_mlops.core.config import load_params
        from tabular_mlops.core.contracts import CHAMPION, MONITOR_DAG_ID
        from tabular_mlops.stack.layout import Layout
        from tabular_mlops.stack.programs import airflow_api

        layout = Layout.from_env()
        params = load_params(layout.repo / "params.yaml")
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
        )


def airflow_run_note(browser: Any, stack: Stack) -> None:
    """The grid of monitor_nightly beside the run details of the last night that decided to retrain."""
    noted = [r for r in stack.monitor_runs if r.get("note")]
    if not noted:
        raise RuntimeError(f"no {stack.monitor_dag_id} run has a note: run `make drill` first")
    run = next((r for r in reversed(noted) if "RETRAIN" in r["note"]), noted[-1])
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_cookies([{"name": "_token", "value": stack.airflow_token, "url": stack.airflow_url}])
    page = context.new_page()
    page.goto(
        f"{stack.airflow_url}/dags/{stack.monitor_dag_id}/runs/{run['dag_run_id']}", wait_until="networkidle"
    )
    page.get_by_text(run["note"].split("**")[1]).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "airflow_run_note.png"))
    context.close()


def mlflow_champion(browser: Any, stack: Stack) -> None:
    """The registered model's champion version: its aliases, gate tags and model card."""
    from mlflow import MlflowClient

    version = MlflowClient(tracking_uri=stack.mlflow_url).get_model_version_by_alias(
        stack.model_name, stack.champion_alias
    )
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(
        f"{stack.mlflow_url}/#/models/{stack.model_name}/versions/{version.version}", wait_until="networkidle"
    )
    page.get_by_text(stack.champion_alias).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "mlflow_champion.png"), full_page=True)
    page.close()


def evidently_dashboard(browser: Any, stack: Stack) -> None:
    """The monitoring project's dashboard: drift share per night against the retrain threshold."""
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.goto(stack.evidently_url, wait_until="networkidle")
    page.get_by_text(f"{stack.model_name} monitoring").first.click()
    title = f"Share of drifted columns: retrain above {stack.drift_share_threshold}"
    page.get_by_text(title).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(IMG_DIR / "evidently_dashboard.png"))
    page.close()


def serving_docs(browser: Any, stack: Stack) -> None:
    """The scoring service's OpenAPI page with POST /predict opened on its example body."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{stack.serving_url}/docs", wait_until="networkidle")
    predict = page.locator(".opblock-post", has_text="/predict").first
    predict.wait_for(timeout=TIMEOUT_MS)
    predict.locator(".opblock-summary").first.click()
    page.get_by_text("application_id").first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(IMG_DIR / "serving_docs.png"))
    page.close()


SHOTS = (
    Shot(
        "airflow_run_note.png",
        "Airflow: a monitor_nightly run and its note",
        "The grid of `monitor_nightly` and the run details of a night that decided to retrain: the note says the "
        "decision, its figures and reasons, and links to the MLflow run, the model version and the Evidently report.",
        airflow_run_note,
    ),
    Shot(
        "mlflow_champion.png",
        "MLflow: the champion version",
        "The registered model's `champion` version: its aliases, the gate's results as `gate.*` tags, the data "
        "version and commit it was trained from, and its model card.",
        mlflow_champion,
    ),
    Shot(
        "evidently_dashboard.png",
        "Evidently: the monitoring dashboard",
        "The share of drifted columns per night against the retrain threshold, with the nights that retrained.",
        evidently_dashboard,
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
        "Taken from a running local stack after `make drill SCENARIO=covariate_shift NIGHTS=2` by "
        "`make docs-screenshots` (`scripts/docs_screenshots.py`, headless Chromium), not drawn by hand.",
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
    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        print(
            "error: no Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chrome)", file=sys.stderr
        )
        return 1
    from playwright.sync_api import sync_playwright

    stack = Stack.from_running_stack()
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in SHOTS if not args.only or s.file.removesuffix(".png") in args.only]
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
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

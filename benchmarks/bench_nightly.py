"""One production night at N source rows a day (ingest + score + monitor), without Airflow (issue 13's goal:
the nightly loop at 1M rows a day under 3 minutes on 2 cores, no stage above 4 GB peak RSS).

Every stage runs the package functions its DAG task calls, with the task's arguments (dags/ingest.py,
dags/monitor_nightly.py), each in a FRESH interpreter (`python bench_nightly.py --child STAGE ...`), as Airflow
runs each task in its own process; what a task returns (its XCom) is handed to the next stage as a JSON file:

  extract            ingest.extract_interval(schema, ingest, paths, root, source_url, N, N+1, conn_id=SOURCE_CONN_ID)
  validate           ingest.validate_extracted(schema, validate, paths, root, <extract's result>)   (GX + Data Docs)
  version            ingest.publish_validated(paths, root, <validate's result>)   (dvc add + dvc push)
  score              configure_tracking + batch_scoring.score_night(params, src, log, N, run_id, SOURCE_CONN_ID)
  join_labels        batch_scoring.join_matured_labels(params, src, log, N, "source_db")
  report_and_decide  configure_tracking + nightly.judge_night(params, root, log, N, retrain_in_flight=False):
                     monitor_night + its run note (the drift decision on the window, a sample of it above
                     monitor.max_window_rows, with the champion's cached reference profile, Evidently reports on
                     their sample, workspace, MLflow logging, decision log)

Per stage: `wall s` = the child process from spawn to exit (interpreter start and imports included, as a task
process pays them), `cpu s` = user + system CPU of the child and of the processes it waited for (dvc), from
wait4(); `MiB` = the child's own peak RSS (VmHWM read just before it exits); `tree MiB` = wait4's ru_maxrss,
the largest process of the tree (a dvc child can be larger than the Python task). `pre-call s` = from this
script's first line in the child to the stage's package call (the modules the DAG task imports at its top, and
params.yaml; what the package imports lazily inside the call counts in `call s`). `sum` = the nightly loop
without retraining (the six stages, run one after another; join_labels is the monitoring DAG's task between
score and report_and_decide).

Setup (timed, reported, not part of the loop), in a throw-away project copied as benchmarks/bench_stages.py does
(params.yaml, dvc.yaml, .dvc/config, requirements.txt, include/; git init + commit; MLOPS_PROJECT_DIR;
MLFLOW_TRACKING_URI=sqlite:///<tmp>/mlflow.db; the DVC remote of .dvc/config, i.e. <tmp>/var/dvc-remote;
the prediction log and decision record in sqlite:///<tmp>/var/monitoring.db):

  setup.source    simulate.generate_day + source_db.write_day into a SQLite source DB: the champion's days at
                  --champion-rows a day, then the monitored days (F .. N) at --rows a day
  setup.champion  the champion's days ingested (extract, validate, publish with push, as tests/conftest.py
                  publish_history), then preprocess.split_window, train.train, evaluate.evaluate,
                  registry.register_challenger, registry.promote_if_better (bench_stages' path) on that small
                  window; then the champion's reference cache (champion_reference.champion_reference), as its first
                  monitored night leaves it, so that night N is a normal, cached night (not with --cold)
  setup.history   score_night + join_matured_labels for the nights F .. N-1 (monitor.window_days nights): the
                  prediction log holds a full window, with matured labels, when night N is monitored
  cold            --cold only: report_and_decide for night N-1, the champion's first monitored night, which
                  builds its reference cache (measured like a stage, reported apart); night N is then cached

Overrides in the copy's params.yaml (said in the output): schema.label_delay_days 1 (instead of 30: the monitor
reads the same 7-night windows, the log needs 8 nights instead of 37); preprocess.window_days / holdout_days for
the champion's small window; train.search_space: only its hist_gradient_boosting candidates (the kind of model
a production window picks; logistic regression can win on the small window and scores far more cheaply);
monitor.row_count_tolerance 1000 (the champion is trained at --champion-rows a day, so at --rows a day every
night would fail the row-count rule and be held, and held nights leave later windows); monitor.window_days only
with --monitor-window-days.

    python benchmarks/bench_nightly.py --rows 10000
    python benchmarks/bench_nightly.py --rows 1000000 --json /tmp/nightly-1m.json --keep
    python benchmarks/bench_nightly.py --again report_and_decide --project /tmp/bench-nightly-... --monitor-window-days 1
    python benchmarks/bench_nightly.py --again-loop --project /tmp/bench-nightly-...   # sequential, then as scheduled
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_stages import commit_project, copy_project, vmhwm_kib

T_CHILD_START = time.perf_counter()

REPO = Path(__file__).resolve().parents[1]
SOURCE_CONN_ID = "source_db"
MONITORING_CONN_ID = "monitoring_db"
FIRST_DAY = dt.date(2026, 1, 1)
LABEL_DELAY = 1
LOOP = ["extract", "validate", "version", "score", "join_labels", "report_and_decide"]
SETUP = ["setup.source", "setup.champion", "setup.history"]
# The two DAGs of a night: both are scheduled @daily and independent (monitoring scores the source, not the
# ingested snapshot), so the scheduler runs them side by side.
INGEST_DAG, MONITOR_DAG = LOOP[:3], LOOP[3:]
GOAL_SECONDS = 180
GOAL_MIB = 4096
NOISY_LOGGERS = ("great_expectations", "evidently", "mlflow", "alembic", "urllib3", "matplotlib")


# --------------------------------------------------------------------------- the project and its calendar


def calendar(cfg: dict) -> dict[str, dt.date]:
    """Champion days D0 .. D0+C-1; monitored days F = D0+C .. N = F + window_days (night N is measured)."""
    first = dt.date.fromisoformat(cfg["first_day"])
    f = first + dt.timedelta(days=cfg["champion_days"])
    return {"first": first, "f": f, "night": f + dt.timedelta(days=cfg["window_days"])}


def make_project(tmp: Path, champion_days: int, monitor_window_days: int | None = None) -> dict:
    import yaml

    copy_project(tmp)
    raw = yaml.safe_load((tmp / "params.yaml").read_text())
    overrides = {
        "schema.label_delay_days": (raw["schema"]["label_delay_days"], LABEL_DELAY),
        "preprocess.window_days": (raw["preprocess"]["window_days"], champion_days),
        "preprocess.holdout_days": (raw["preprocess"]["holdout_days"], 1),
        "monitor.row_count_tolerance": (raw["monitor"]["row_count_tolerance"], 1000),
    }
    # The champion a production window picks is a tree ensemble; on the small window logistic regression can win,
    # and it scores far more cheaply: keep the search to the hist_gradient_boosting candidates.
    space = raw["train"]["search_space"]
    trees = [c for c in space if c["model"] == "hist_gradient_boosting"] or space
    overrides["train.search_space"] = (f"{len(space)} candidates", f"its {len(trees)} hist_gradient_boosting")
    raw["train"]["search_space"] = trees
    if monitor_window_days is not None:
        overrides["monitor.window_days"] = (raw["monitor"]["window_days"], monitor_window_days)
        raw["monitor"]["window_days"] = monitor_window_days
    raw["schema"]["label_delay_days"] = LABEL_DELAY
    raw["preprocess"]["window_days"] = champion_days
    raw["preprocess"]["holdout_days"] = 1
    raw["monitor"]["row_count_tolerance"] = 1000
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    commit_project(tmp, ["/var/", "/source_db.db", "/mlflow.db", "/bench/", "/quarantine/"])
    return {
        "overrides": {k: {"repo": a, "bench": b} for k, (a, b) in overrides.items()},
        "window_days": raw["monitor"]["window_days"],
        "report_sample_rows": raw["monitor"]["report_sample_rows"],
        "chunk_rows": raw["ingest"]["chunk_rows"],
    }


def code_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "include_changes": git("status", "--porcelain", "--", "include").splitlines(),
    }


# --------------------------------------------------------------------------- child: one stage, one process


def _quiet() -> None:
    import logging

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _xcom(root: Path, name: str, value: dict | None = None) -> dict:
    path = root / "bench" / "xcom" / f"{name}.json"
    if value is None:
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str))
    return value


def _run_id(night: dt.date) -> str:
    return f"scheduled__{night.isoformat()}T00:00:00+00:00"


class Child:
    """The stage functions; `called` marks the end of the imports (what the task pays before its work)."""

    def __init__(self, root: Path, cfg: dict) -> None:
        self.root, self.cfg = root, cfg
        self.called: float | None = None

    def params(self):
        from tabular_mlops.core.config import load_params

        return load_params(self.root / "params.yaml")

    def engines(self):
        from tabular_mlops.store import source_db

        src = source_db.connect(self.cfg["source_url"], SOURCE_CONN_ID)
        log = source_db.connect(self.cfg["monitoring_url"], MONITORING_CONN_ID)
        return src, log

    def mark(self) -> None:
        self.called = time.perf_counter()

    # ---- ingest
    def extract(self, night: dt.date) -> dict:
        from tabular_mlops.data.ingest import extract_interval

        params = self.params()
        self.mark()
        out = extract_interval(
            params.schema,
            params.ingest,
            params.paths,
            self.root,
            self.cfg["source_url"],
            night,
            night + dt.timedelta(days=1),
            conn_id=SOURCE_CONN_ID,
        )
        return _xcom(self.root, f"extract-{night}", out.to_dict())

    def validate(self, night: dt.date) -> dict:
        from tabular_mlops.data.batch_records import ExtractedBatch
        from tabular_mlops.data.ingest import validate_extracted

        _quiet()
        params = self.params()
        extracted = ExtractedBatch.from_dict(_xcom(self.root, f"extract-{night}"))
        self.mark()
        validated = validate_extracted(params.schema, params.validate, params.paths, self.root, extracted)
        return _xcom(self.root, f"validate-{night}", validated.to_dict())

    def version(self, night: dt.date) -> dict:
        from tabular_mlops.data.batch_records import ValidatedBatch
        from tabular_mlops.data.ingest import publish_validated

        params = self.params()
        validated = ValidatedBatch.from_dict(_xcom(self.root, f"validate-{night}"))
        self.mark()
        published = publish_validated(params.paths, self.root, validated)
        return _xcom(self.root, f"version-{night}", published.to_dict())

    # ---- monitor_nightly
    def score(self, night: dt.date) -> dict:
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.batch_scoring import score_night

        params = self.params()
        self.mark()
        configure_tracking(params, self.root)
        src, log = self.engines()
        out = score_night(params, src, log, night, _run_id(night), SOURCE_CONN_ID, rescore=False)
        return _xcom(self.root, f"score-{night}", out)

    def join_labels(self, night: dt.date) -> dict:
        from tabular_mlops.monitoring.batch_scoring import join_matured_labels

        params = self.params()
        scored = _xcom(self.root, f"score-{night}")
        self.mark()
        src, log = self.engines()
        out = {**scored, **join_matured_labels(params, src, log, night, SOURCE_CONN_ID)}
        return _xcom(self.root, f"join_labels-{night}", out)

    def report_and_decide(self, night: dt.date) -> dict:
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.nightly import judge_night
        from tabular_mlops.store import source_db

        _quiet()
        params = self.params()
        _xcom(self.root, f"join_labels-{night}")
        self.mark()
        configure_tracking(params, self.root)
        log = source_db.connect(self.cfg["monitoring_url"], MONITORING_CONN_ID)
        result, note = judge_night(params, self.root, log, night, False)
        out = result.to_dict()
        _xcom(self.root, f"report_and_decide-{night}", {"result": out, "note": note})
        return out

    # ---- setup
    def setup_source(self, night: dt.date) -> dict:
        from tabular_mlops.data import simulate
        from tabular_mlops.store import source_db

        params = self.params()
        self.mark()
        cal = calendar(self.cfg)
        engine = source_db.connect(self.cfg["source_url"])
        days = [
            (cal["first"] + dt.timedelta(days=i), self.cfg["champion_rows"])
            for i in range(self.cfg["champion_days"])
        ]
        days += [
            (cal["f"] + dt.timedelta(days=i), self.cfg["rows"]) for i in range(self.cfg["window_days"] + 1)
        ]
        timings = []
        for day, rows in days:
            t0 = time.perf_counter()
            batch = simulate.generate_day(day, rows, params.simulate.seed, "stable")
            t1 = time.perf_counter()
            source_db.write_day(engine, params.schema, day, batch)
            del batch
            timings.append(
                {
                    "day": day.isoformat(),
                    "rows": rows,
                    "generate_s": round(t1 - t0, 2),
                    "write_s": round(time.perf_counter() - t1, 2),
                }
            )
            print(
                f"    source day {day} {rows:>9,} rows: generate {t1 - t0:.1f} s, write {time.perf_counter() - t1:.1f} s",
                flush=True,
            )
        return {"days": timings}

    def setup_champion(self, night: dt.date) -> dict:
        from tabular_mlops.data.ingest import extract_interval, publish_validated, validate_extracted
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.store import source_db
        from tabular_mlops.training import evaluate, preprocess, registry, train

        _quiet()
        params = self.params()
        self.mark()
        configure_tracking(params, self.root)
        cal = calendar(self.cfg)
        lag = dt.timedelta(days=params.schema.label_delay_days)
        start, end = cal["first"] + lag, cal["f"] + lag
        steps = {}
        t = time.perf_counter()
        extracted = extract_interval(
            params.schema,
            params.ingest,
            params.paths,
            self.root,
            self.cfg["source_url"],
            start,
            end,
            conn_id=SOURCE_CONN_ID,
        )
        validated = validate_extracted(params.schema, params.validate, params.paths, self.root, extracted)
        publish_validated(params.paths, self.root, validated)
        steps["ingest"], t = round(time.perf_counter() - t, 2), time.perf_counter()
        window = preprocess.split_window(params, self.root)
        info = train.train(params, self.root)
        holdout = evaluate.evaluate(params, self.root)
        description = registry.model_description(params.wording, params.schema)
        reg = registry.register_challenger(params.registry, params.paths, self.root, description)
        steps["train..register"], t = round(time.perf_counter() - t, 2), time.perf_counter()
        ledger = source_db.connect(self.cfg["monitoring_url"], MONITORING_CONN_ID)
        gate = registry.promote_if_better(params, self.root, reg.version, ledger, "bench")
        steps["gate"] = round(time.perf_counter() - t, 2)
        if not gate.promoted:
            raise RuntimeError(f"the champion was not promoted: {gate}")
        if not self.cfg["cold"]:
            # The champion's reference cache, as its first monitored night leaves it (night N is then a cached
            # night without monitoring night N-1 at full size first).
            from tabular_mlops.model.scoring import load_champion
            from tabular_mlops.monitoring.champion_reference import champion_reference

            t = time.perf_counter()
            champion = load_champion(params.registry.model_name)
            champion_reference(params.schema, params.monitor, params.paths, self.root, champion)
            steps["reference_cache"] = round(time.perf_counter() - t, 2)
        return {
            "rows": extracted.rows,
            "window": window,
            "best_candidate": info["best_candidate"],
            "holdout_roc_auc": round(holdout["roc_auc"], 4),
            "version": reg.version,
            "steps_s": steps,
        }

    def setup_history(self, night: dt.date) -> dict:
        """score + join_labels of the nights F .. N-1, as the monitoring DAG left them (one process for all)."""
        from tabular_mlops.model.tracking import configure_tracking
        from tabular_mlops.monitoring.batch_scoring import join_matured_labels, score_night

        params = self.params()
        self.mark()
        configure_tracking(params, self.root)
        src, log = self.engines()
        cal, out = calendar(self.cfg), []
        day = cal["f"]
        while day < night:
            t0 = time.perf_counter()
            scored = score_night(params, src, log, day, _run_id(day), SOURCE_CONN_ID)
            t1 = time.perf_counter()
            joined = join_matured_labels(params, src, log, day, SOURCE_CONN_ID)
            _xcom(self.root, f"join_labels-{day}", {**scored, **joined})
            out.append(
                {
                    "night": day.isoformat(),
                    "score_s": round(t1 - t0, 2),
                    "join_s": round(time.perf_counter() - t1, 2),
                    "rows": scored["rows"],
                    "labelled": joined["predictions_labelled"],
                }
            )
            print(
                f"    history night {day}: score {t1 - t0:.1f} s, join_labels {time.perf_counter() - t1:.1f} s",
                flush=True,
            )
            day += dt.timedelta(days=1)
        return {"nights": out}


def child_main(stage: str, root: Path, night: dt.date, out: Path) -> int:
    cfg = json.loads((root / "bench" / "config.json").read_text())
    import tabular_mlops

    if not Path(tabular_mlops.__file__).is_relative_to(root):
        raise RuntimeError(f"the package was imported from {tabular_mlops.__file__}, not the project {root}")
    runner = Child(root, cfg)
    fn = getattr(runner, stage.replace(".", "_").replace("cold", "report_and_decide"))
    result = fn(night)
    end = time.perf_counter()
    called = runner.called or end
    out.write_text(
        json.dumps(
            {
                "result": result,
                "import_s": round(called - T_CHILD_START, 3),
                "call_s": round(end - called, 3),
                "vmhwm_mib": round((vmhwm_kib() or 0) / 1024, 1),
            },
            default=str,
        )
    )
    return 0


# --------------------------------------------------------------------------- parent: spawn, watch, measure


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_stage(stage: str, root: Path, night: dt.date, env: dict, max_rss_gib: float) -> dict:
    out = root / "bench" / "out" / f"{stage}-{night}.json"
    logf = root / "bench" / "logs" / f"{stage}-{night}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    logf.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--project", str(root)]
    cmd += ["--night", night.isoformat(), "--out", str(out)]
    load0 = os.getloadavg()[0]
    print(f"  {stage:<18} night {night} ...", flush=True)
    killed, trace, next_sample = None, [], 0.0
    with logf.open("w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss_kib(proc.pid)
            now = time.perf_counter() - t0
            if now >= next_sample:  # the child's RSS every 2 s (MiB), to see where a stage grows
                trace.append([round(now, 1), round(rss / 1024)])
                next_sample += 2.0
            if rss > max_rss_gib * 1024 * 1024 and killed is None:
                killed = rss
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    rec = {
        "stage": stage,
        "night": night.isoformat(),
        "seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "tree_peak_mib": round(usage.ru_maxrss / 1024, 1),
        "loadavg_1m_start": round(load0, 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "exit": proc.returncode,
        "rss_trace_mib": trace,
    }
    if killed is not None:
        rec["killed_at_rss_mib"] = round(killed / 1024, 1)
    if proc.returncode != 0:
        print(logf.read_text()[-6000:], file=sys.stderr)
        rec["error"] = f"exit {proc.returncode}" + (
            f", killed by the benchmark at {killed / 1024:.0f} MiB RSS after {wall:.0f} s (--max-rss-gib)"
            if killed
            else ""
        )
        return rec
    rec.update(json.loads(out.read_text()))
    print(
        f"  {stage:<18} night {night} {wall:8.2f} s  cpu {rec['cpu_seconds']:8.2f} s  "
        f"peak {rec['vmhwm_mib']:7.0f} MiB  (pre-call {rec['import_s']:.1f} s)",
        flush=True,
    )
    return rec


def facts(records: list[dict]) -> list[str]:
    """What each stage did, in a line each (so the reader sees a normal night)."""
    by = {(r["stage"], r["night"]): r["result"] for r in records if "result" in r}
    lines = []
    for (stage, night), res in by.items():
        if stage == "extract":
            lines.append(f"extract {night}: {res.get('rows'):,} rows of days {res.get('row_days')}")
        elif stage == "version":
            lines.append(f"version {night}: published {res.get('published')}")
        elif stage == "score":
            lines.append(f"score {night}: {res.get('rows'):,} rows scored by {res.get('scored_by')}")
        elif stage == "join_labels":
            lines.append(
                f"join_labels {night}: {res.get('predictions_labelled'):,} predictions of {res.get('application_day')} labelled"
            )
        elif stage in ("report_and_decide", "cold"):
            s = res.get("summary", {})
            d = res.get("decision", {})
            lines.append(
                f"{stage} {night}: status {s.get('status')}, window {s.get('rows'):,} rows (night {s.get('night_rows'):,}), "
                f"{s.get('labelled_rows'):,} labelled rows, action {d.get('action')}, "
                f"reasons: {'; '.join(d.get('reasons', []))[:300]}; reports {len(res.get('reports', []))}"
            )
        elif stage == "setup.champion":
            lines.append(
                f"champion: v{res.get('version')}, {res.get('best_candidate')}, holdout ROC AUC {res.get('holdout_roc_auc')}, "
                f"window {res.get('window')}"
            )
    return lines


def verdict(complete: bool, within: bool) -> str:
    """met / NOT met; an incomplete loop still within the goal has not shown it."""
    if not within:
        return "NOT met"
    return "met" if complete else "not established"


def render(run: dict) -> str:
    recs = run["records"]

    def row(r: dict, label: str) -> str:
        if "error" in r:
            return f"| {label} | {r['night']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | - | {r['tree_peak_mib']:.0f} | - | FAILED: {r['error']} |"
        return (
            f"| {label} | {r['night']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['vmhwm_mib']:.0f} | "
            f"{r['tree_peak_mib']:.0f} | {r['import_s']:.1f} | {r['call_s']:.2f} |"
        )

    lines = [
        f"Nightly loop at {run['rows']:,} rows a day (night {run['night']}), {run['started']} UTC, "
        f"code {run['code']['commit']}"
        + (" + uncommitted include/ changes" if run["code"]["include_changes"] else ""),
        "",
        "| stage | night | wall s | cpu s | MiB | tree MiB | pre-call s | call s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    loop = [r for r in recs if r["stage"] in LOOP]
    for r in loop:
        lines.append(row(r, r["stage"]))
    ok = [r for r in loop if "error" not in r]
    wall = sum(r["seconds"] for r in loop)
    cpu = sum(r["cpu_seconds"] for r in loop)
    peak = max((r.get("vmhwm_mib", r.get("killed_at_rss_mib", 0)) for r in loop), default=0)
    tree = max((r["tree_peak_mib"] for r in loop), default=0)
    lines.append(
        f"| **sum (nightly loop, no retraining)** | | **{wall:.1f}** | **{cpu:.1f}** | **{peak:.0f}** (max) | {tree:.0f} (max) | | |"
    )
    for r in recs:
        if r["stage"] == "cold":
            lines.append(row(r, "report_and_decide, cold (builds the reference cache)"))
    for r in recs:
        if r["stage"] in SETUP:
            lines.append(row(r, r["stage"]))
    complete = len(ok) == len(LOOP)
    lines += [
        "",
        f"Goal < {GOAL_SECONDS} s wall: {verdict(complete, wall < GOAL_SECONDS)} ({wall:.1f} s wall, {cpu:.1f} s CPU"
        + (")" if complete else ", stages that ran; the loop did not complete)"),
        f"Goal < {GOAL_MIB} MiB peak RSS per stage: {verdict(complete, max(peak, tree) < GOAL_MIB)} "
        f"(largest process {max(peak, tree):.0f} MiB)",
        f"Load average (1 min): start {run['loadavg_start']:.2f}, end {run['loadavg_end']:.2f}; setup {run['setup_seconds']:.0f} s; "
        f"python {run['python']}, nproc {run['nproc']}, OMP_NUM_THREADS={run['omp_num_threads']}",
        "Params overridden in the copy: "
        + ", ".join(f"{k} {v['repo']} -> {v['bench']}" for k, v in run["overrides"].items()),
        "",
        *facts(recs),
        *[
            f"{r['stage']} {r['night']}: {r['error']}; RSS MiB every ~10 s: "
            + ", ".join(f"{t:.0f}s {m}" for t, m in r["rss_trace_mib"][::5])
            for r in recs
            if "error" in r
        ],
    ]
    return "\n".join(lines)


def stage_env(tmp: Path, cfg: dict) -> dict:
    """The stage processes' environment: the project's package, MLflow store and monitoring DB."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "MLOPS_PROJECT_DIR": str(tmp),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "MLOPS_MONITORING_DB_URL": cfg["monitoring_url"],
            "GIT_PYTHON_REFRESH": "quiet",
            "PYTHONPATH": os.pathsep.join([str(tmp / "include"), str(REPO / "plugins")]),
        }
    )
    return env


def again(stage: str, tmp: Path, window_days: int | None, max_rss_gib: float) -> int:
    """One loop stage of night N once more in a project kept with --keep (e.g. report_and_decide with a shorter
    monitor.window_days: the log keeps every night, only the window read changes; the reference cache key does
    not depend on it). The result replaces nothing the first run printed."""
    import yaml

    cfg = json.loads((tmp / "bench" / "config.json").read_text())
    if window_days is not None:
        raw = yaml.safe_load((tmp / "params.yaml").read_text())
        print(f"monitor.window_days {raw['monitor']['window_days']} -> {window_days} in {tmp}/params.yaml")
        raw["monitor"]["window_days"] = window_days
        (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    load0 = os.getloadavg()[0]
    rec = run_stage(stage, tmp, calendar(cfg)["night"], stage_env(tmp, cfg), max_rss_gib)
    rec["monitor_window_days"] = window_days
    print(json.dumps({k: v for k, v in rec.items() if k != "result"}, default=str))
    print(f"load average (1 min) {load0:.2f} -> {os.getloadavg()[0]:.2f}; " + "; ".join(facts([rec])))
    return 0 if "error" not in rec else 1


def again_loop(tmp: Path, max_rss_gib: float) -> int:
    """The whole loop of night N again in a kept project, twice: its six stages one after another (the sum the
    goal is judged on), then as the scheduler runs a night, ingest's three tasks beside
    monitor_nightly's three (two chains at once, each task a fresh process), timed from the first task's start
    to the last one's end."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = json.loads((tmp / "bench" / "config.json").read_text())
    env, night = stage_env(tmp, cfg), calendar(cfg)["night"]

    def chain(stages: list[str]) -> list[dict]:
        return [run_stage(s, tmp, night, env, max_rss_gib) for s in stages]

    def forget_scores() -> None:
        """Night N's scores out of the log (untimed), so `score` runs as on the night itself, not as a re-run
        that first deletes a million rows."""
        import sqlalchemy as sa
        from tabular_mlops.core.config import load_params
        from tabular_mlops.store.prediction_log import ensure_table

        schema = load_params(tmp / "params.yaml").schema
        engine = sa.create_engine(cfg["monitoring_url"])
        table = ensure_table(engine, schema)
        ts, start = table.c[schema.timestamp_column], dt.datetime.combine(night, dt.time())
        with engine.begin() as conn:
            conn.execute(
                table.delete().where(
                    ts >= start, ts < start + dt.timedelta(days=1), table.c.source == "batch"
                )
            )
        engine.dispose()

    load0 = os.getloadavg()[0]
    forget_scores()
    t0 = time.perf_counter()
    sequential = chain(LOOP)
    t1 = time.perf_counter()
    forget_scores()
    t1 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        ingest, monitor = pool.map(chain, [INGEST_DAG, MONITOR_DAG])
    t2 = time.perf_counter()
    print()
    print(f"night {night}, {cfg['rows']:,} rows a day, code {code_state()['commit']}")
    print("| stage | one after another: wall s | cpu s | MiB | both DAGs at once: wall s | cpu s | MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for a, b in zip(sequential, ingest + monitor, strict=True):
        print(
            f"| {a['stage']} | {a['seconds']:.2f} | {a['cpu_seconds']:.2f} | {a['tree_peak_mib']:.0f} "
            f"| {b['seconds']:.2f} | {b['cpu_seconds']:.2f} | {b['tree_peak_mib']:.0f} |"
        )
    print(
        f"| **loop** | **{t1 - t0:.1f}** | {sum(r['cpu_seconds'] for r in sequential):.1f} | "
        f"| **{t2 - t1:.1f}** | {sum(r['cpu_seconds'] for r in ingest + monitor):.1f} | |"
    )
    print(
        f"ingest alone (at once): {sum(r['seconds'] for r in ingest):.1f} s; monitor_nightly: "
        f"{sum(r['seconds'] for r in monitor):.1f} s. Load average (1 min) {load0:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    return 0 if all("error" not in r for r in sequential + ingest + monitor) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="source rows per day (default 1000000)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project directory")
    parser.add_argument("--champion-rows", type=int, default=10_000, help="rows a day of the champion's days")
    parser.add_argument("--champion-days", type=int, default=4, help="the champion's window (1 holdout day)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="measure night N-1 as the champion's first (cold) monitored night, which builds the reference cache; "
        "by default setup.champion builds the cache and N-1 is not monitored",
    )
    parser.add_argument(
        "--monitor-window-days",
        type=int,
        help="override monitor.window_days in the copy (default: params.yaml's, 7); the log then holds that many nights",
    )
    parser.add_argument(
        "--max-rss-gib", type=float, default=12.0, help="kill a stage whose RSS goes above this (default 12)"
    )
    parser.add_argument(
        "--again",
        choices=LOOP,
        metavar="STAGE",
        help="measure one loop stage of night N again in the project given by --project (kept with --keep); "
        "with --monitor-window-days, that window is written into its params.yaml first",
    )
    parser.add_argument(
        "--again-loop",
        action="store_true",
        help="the whole loop of night N again in --project: its stages one after another, then the ingest and "
        "monitoring DAGs' tasks side by side as the scheduler runs them",
    )
    parser.add_argument("--project", type=Path, help="with --again: the kept project directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--night", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return child_main(args.child, args.project, dt.date.fromisoformat(args.night), args.out)
    if args.again:
        return again(args.again, args.project, args.monitor_window_days, args.max_rss_gib)
    if args.again_loop:
        return again_loop(args.project, args.max_rss_gib)

    started = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-nightly-{args.rows}-"))
    print(f"project {tmp}", flush=True)
    info = make_project(tmp, args.champion_days, args.monitor_window_days)
    cfg = {
        "rows": args.rows,
        "champion_rows": args.champion_rows,
        "champion_days": args.champion_days,
        "window_days": info["window_days"],
        "cold": args.cold,
        "first_day": FIRST_DAY.isoformat(),
        "source_url": f"sqlite:///{tmp / 'source_db.db'}",
        "monitoring_url": f"sqlite:///{tmp / 'var' / 'monitoring.db'}",
    }
    (tmp / "bench").mkdir()
    (tmp / "var").mkdir(exist_ok=True)
    (tmp / "bench" / "config.json").write_text(json.dumps(cfg, indent=2))
    env = stage_env(tmp, cfg)
    night = calendar(cfg)["night"]
    records: list[dict] = []

    def stage(name: str, day: dt.date) -> bool:
        rec = run_stage(name, tmp, day, env, args.max_rss_gib)
        records.append(rec)
        return "error" not in rec

    load_start = os.getloadavg()[0]
    t_setup = time.perf_counter()
    ok = all(stage(s, night) for s in SETUP)
    if ok and args.cold:
        ok = stage("cold", night - dt.timedelta(days=1))
    setup_seconds = time.perf_counter() - t_setup
    loop_load = os.getloadavg()[0]
    if ok:
        for s in LOOP:
            if not stage(s, night):
                break
    run = {
        "rows": args.rows,
        "night": night.isoformat(),
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "code": code_state(),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "loadavg_start": loop_load,
        "loadavg_setup_start": load_start,
        "loadavg_end": os.getloadavg()[0],
        "setup_seconds": round(setup_seconds, 1),
        "overrides": info["overrides"],
        "config": cfg,
        "project": str(tmp),
        "records": records,
    }
    print()
    print(render(run))
    if args.json:
        args.json.write_text(json.dumps(run, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all("error" not in r for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())

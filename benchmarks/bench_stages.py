"""Time each pipeline stage for N source rows per day (default 10k, 100k and 1M), without Airflow.

Every size runs in its own fresh interpreter (so memory and imports do not leak between sizes) inside a
throw-away project directory: params.yaml, dvc.yaml, .dvc/config, requirements.txt and include/ are copied
there, `git init` + one commit, MLOPS_PROJECT_DIR points at it and MLFLOW_TRACKING_URI=sqlite:///<tmp>/mlflow.db.
The package is imported from that copy of include/, so the numbers belong to one consistent snapshot of the code.

What is measured (the same functions the DAGs and dvc.yaml stages call):

  per application day (D days, default 3; the table shows the mean, the per-day figures follow it)
    simulate.generate  tabular_mlops.data.simulate.generate_day(day, N)
    simulate.write     tabular_mlops.store.source_db.write_day -> SQLite source DB
    extract            tabular_mlops.data.ingest.extract_interval for the night whose application day is that day
                       (night = day + schema.label_delay_days, interval [night, night + 1))
    validate           tabular_mlops.data.ingest.validate_extracted (GX checkpoint + Data Docs, staged)
    version            tabular_mlops.data.ingest.publish_validated (into data/, dvc add + dvc push to the local remote)
  whole window (preprocess.window_days=D, preprocess.holdout_days=1: (D-1)*N train rows, N holdout rows)
    preprocess         tabular_mlops.training.preprocess.split_window
    train              tabular_mlops.training.train.train (every search-space candidate + refit + MLflow log_model)
    evaluate           tabular_mlops.training.evaluate.evaluate
    register           tabular_mlops.training.registry.register_challenger
    gate               tabular_mlops.training.registry.promote_if_better (first version: no champion to compare with)
    gate.champion      loading the champion + training.holdout_scores.score_part, i.e. what the gate adds
                       once a champion exists (the champion re-scored on the challenger's holdout)

`s` is wall-clock seconds; `cpu s` is this process's CPU time plus that of its child processes (the dvc
commands) during the stage: on a shared machine it is the steadier figure, and with --threads 1 it is close to
what the stage takes on an idle core. `MiB` is this process's peak RSS during the stage (VmHWM, reset to the
current RSS before each stage through /proc/self/clear_refs, so it includes the ~350-450 MiB of imported
libraries; falls back to the cumulative ru_maxrss where /proc is missing); the dvc child processes of `version`
are not included. The 1-minute load average is recorded because other work on the machine changes the numbers
a lot (OpenMP threads waiting for busy cores).

    python benchmarks/bench_stages.py                         # 10k, 100k, 1M rows per day, 3 days
    python benchmarks/bench_stages.py --rows 10000 --days 3 --json /tmp/bench.json
    python benchmarks/bench_stages.py --threads 1 --wait-idle 120   # one OpenMP thread per process
    python benchmarks/bench_stages.py --from-json /tmp/bench.json   # re-print the tables of a saved run

Window mode (issue 13's scale): a `--window`-day window (default holdout 10 days, as params.yaml) at each size,
its snapshots written straight into data/ as Parquet (`snapshot.write` = simulate.generate_day + extract.conform
+ one Parquet file; no source DB, GX or DVC), then preprocess, train, evaluate, register and gate with the
copied params.yaml (so its `train.max_rows` / `train.refit_on`), and `gate.champion` = the champion scored on
the holdout a row group at a time (what a gate with a champion adds):

    OMP_NUM_THREADS=1 python benchmarks/bench_stages.py --window 45 --rows 100000 --threads 1
    OMP_NUM_THREADS=1 python benchmarks/bench_stages.py --window 45 --rows 1000000 --threads 1 --distinct-days 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPY = ["params.yaml", "dvc.yaml", ".dvc/config", "requirements.txt", "include"]
FIRST_DAY = dt.date(2026, 1, 1)
PER_DAY = ["simulate.generate", "simulate.write", "extract", "validate", "version"]
WINDOW = ["preprocess", "train", "evaluate", "register", "gate", "gate.champion"]
SNAPSHOT = ["snapshot.write", "snapshot.copy"]
ONCE = ["setup.imports", "setup.mlflow_db"]


# --------------------------------------------------------------------------- measurement helpers


def vmhwm_kib() -> int | None:
    """This process's peak RSS so far (VmHWM), KiB; None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Recorder:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.can_reset = False

    def run(self, stage: str, fn, *args, day: str | None = None, **kwargs):
        self.can_reset = _reset_hwm()
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = fn(*args, **kwargs)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (children.ru_utime + children.ru_stime) - (
            before_children.ru_utime + before_children.ru_stime
        )
        hwm = vmhwm_kib() if self.can_reset else None
        peak_mib = (hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
        rec = {
            "stage": stage,
            "day": day,
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "child_cpu_seconds": round(child_cpu, 3),
            "peak_rss_mib": round(peak_mib, 1),
            "peak_rss_is_per_stage": hwm is not None,
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }
        self.records.append(rec)
        print(f"  {stage:<18} {day or '':<10} {wall:9.2f} s  peak {peak_mib:8.0f} MiB", flush=True)
        return result


# --------------------------------------------------------------------------- worker: one size, one process


def copy_project(tmp: Path) -> None:
    """The pipeline's definition (params, dvc.yaml, DVC config, requirements, the package) copied into `tmp`."""
    for rel in COPY:
        src, dst = REPO / rel, tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            # Like a fresh clone: no bytecode, and none of the local GX run history (uncommitted/ is gitignored).
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "validations", "data_docs")
            )
        else:
            shutil.copy2(src, dst)


def commit_project(tmp: Path, ignored: list[str]) -> None:
    """`tmp` under git, `ignored` in its .gitignore, everything else in one commit."""
    (tmp / ".gitignore").write_text("".join(f"{p}\n" for p in ignored))
    git = [
        "git",
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@localhost",
        "-c",
        "init.defaultBranch=main",
    ]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "benchmark project"]):
        subprocess.run([*git, *cmd], cwd=tmp, check=True, capture_output=True)


def make_project(tmp: Path, days: int, holdout_days: int = 1) -> None:
    import yaml

    copy_project(tmp)
    raw = yaml.safe_load((tmp / "params.yaml").read_text())
    raw["preprocess"]["window_days"] = days
    raw["preprocess"]["holdout_days"] = holdout_days
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    commit_project(tmp, ["/var/", "/source_db.db", "/mlflow.db"])


def code_state() -> dict:
    """Which code the run copied: HEAD, and the files under include/ that differ from it (others may be editing)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "include_changes": git("status", "--porcelain", "--", "include").splitlines(),
    }


def enter_project(tmp: Path, days: int, holdout_days: int = 1) -> None:
    """Make the throw-away project and point this process (package, MLflow, project dir) at it."""
    make_project(tmp, days, holdout_days)
    os.environ["MLOPS_PROJECT_DIR"] = str(tmp)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.chdir(tmp)
    sys.path.insert(0, str(tmp / "include"))


def load_project(rec: Recorder, tmp: Path):  # -> tabular_mlops.core.config.Params
    import tabular_mlops
    from tabular_mlops.core.config import load_params
    from tabular_mlops.model.tracking import configure_tracking

    assert Path(tabular_mlops.__file__).is_relative_to(tmp), tabular_mlops.__file__
    params = load_params(tmp / "params.yaml")
    rec.run("setup.mlflow_db", configure_tracking, params, tmp)
    return params


def retraining(rec: Recorder, params, tmp: Path) -> dict:
    """preprocess, train, evaluate, register, gate on the project's data/, then the champion scored on the
    holdout a row group at a time (what the gate adds once a champion exists)."""
    import mlflow
    import sqlalchemy as sa
    import tabular_mlops
    from tabular_mlops.core.contracts import HOLDOUT_FILE
    from tabular_mlops.model.scoring import load_champion
    from tabular_mlops.training import evaluate, preprocess, registry, train
    from tabular_mlops.training.holdout_scores import score_part

    window = rec.run("preprocess", preprocess.split_window, params, tmp)
    info = rec.run("train", train.train, params, tmp)
    holdout = rec.run("evaluate", evaluate.evaluate, params, tmp)
    description = registry.model_description(params.wording, params.schema)
    reg = rec.run("register", registry.register_challenger, params.registry, params.paths, tmp, description)
    ledger = sa.create_engine(f"sqlite:///{tmp / 'monitoring.db'}")
    gate = rec.run("gate", registry.promote_if_better, params, tmp, reg.version, ledger, "bench")
    champion_note = "no champion (gate failed): not measured"
    if gate.promoted:
        name, path = params.registry.model_name, tmp / params.paths.processed_dir / HOLDOUT_FILE
        rec.run("gate.champion", lambda: score_part(load_champion(name).model, path, params.schema))
        champion_note = "measured"
    run = mlflow.get_run(info["run_id"]).data.metrics
    return {
        "project": str(tmp),
        "package_file": tabular_mlops.__file__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "train_max_rows": params.train.max_rows,
        "train_refit_on": params.train.refit_on,
        "rows_search": run.get("rows_search"),
        "rows_refit": run.get("rows_refit"),
        "window": window,
        "best_candidate": info["best_candidate"],
        "holdout_roc_auc": round(holdout["roc_auc"], 4),
        "gate_decision": gate.decision,
        "gate_reasons": [g.reason for g in gate.gates],
        "gate_champion": champion_note,
    }


def finish(rec: Recorder, params, tmp: Path, out: Path, keep: bool, **head) -> None:
    """Retrain on the project's data/, write the measurements to `out`, drop the project unless `keep`."""
    result = {**head, **retraining(rec, params, tmp), "records": rec.records}
    out.write_text(json.dumps(result, indent=2, default=str))
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)


def worker(rows: int, days: int, out: Path, keep: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{rows}-"))
    state = code_state()
    enter_project(tmp, days)
    rec = Recorder()

    def imports() -> None:
        import great_expectations  # noqa: F401
        import mlflow  # noqa: F401
        import pandas  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import sqlalchemy  # noqa: F401
        import tabular_mlops.data.ingest
        import tabular_mlops.training.registry  # noqa: F401

    print(f"[{rows:,} rows/day x {days} days] project {tmp}", flush=True)
    rec.run("setup.imports", imports)
    from tabular_mlops.data import ingest, simulate
    from tabular_mlops.store import source_db

    params = load_project(rec, tmp)

    db_url = f"sqlite:///{tmp / 'source_db.db'}"
    engine = source_db.connect(db_url)
    app_days = [FIRST_DAY + dt.timedelta(days=i) for i in range(days)]
    for day in app_days:
        batch = rec.run(
            "simulate.generate",
            simulate.generate_day,
            day,
            rows,
            params.simulate.seed,
            "stable",
            day=day.isoformat(),
        )
        rec.run("simulate.write", source_db.write_day, engine, params.schema, day, batch, day=day.isoformat())
        del batch
    engine.dispose()

    lag = dt.timedelta(days=params.schema.label_delay_days)
    for day in app_days:
        night = day + lag  # the run for night D extracts the applications of D - label_delay_days
        extracted = rec.run(
            "extract",
            ingest.extract_interval,
            params.schema,
            params.ingest,
            params.paths,
            tmp,
            db_url,
            night,
            night + dt.timedelta(days=1),
            day=day.isoformat(),
        )
        assert extracted.row_days == (day.isoformat(),) and extracted.rows == rows, extracted
        validated = rec.run(
            "validate",
            ingest.validate_extracted,
            params.schema,
            params.validate,
            params.paths,
            tmp,
            extracted,
            day=day.isoformat(),
        )
        rec.run("version", ingest.publish_validated, params.paths, tmp, validated, day=day.isoformat())

    finish(rec, params, tmp, out, keep, rows_per_day=rows, days=days, code=state)


def in_child(fn, *args) -> None:
    """`fn(*args)` in a forked child process; an error if it fails."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=fn, args=args)
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{fn.__name__}{args} failed in a child process (exit {child.exitcode})")


def window_worker(rows: int, days: int, holdout_days: int, distinct: int, out: Path, keep: bool) -> None:
    """The training DAG's stages on a `days`-day window whose snapshots are written straight into data/ as
    Parquet (simulate.generate_day + extract.conform, as ingestion leaves them; no source DB, no GX, no DVC)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-window-{rows}-"))
    state = code_state()
    enter_project(tmp, days, holdout_days)
    (tmp / ".gitignore").write_text("/var/\n/mlflow.db\n/data/\n/processed/\n/models/\n")
    rec = Recorder()

    def imports() -> None:
        import mlflow  # noqa: F401
        import pandas  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import tabular_mlops.training.registry  # noqa: F401

    print(f"[{rows:,} rows/day x {days}-day window] project {tmp}", flush=True)
    rec.run("setup.imports", imports)
    from tabular_mlops.core.atomic_files import atomic_write_parquet
    from tabular_mlops.core.contracts import snapshot_name
    from tabular_mlops.data import simulate
    from tabular_mlops.data.extract import conform

    params = load_project(rec, tmp)

    raw = tmp / params.paths.raw_dir
    ts, ids = params.schema.timestamp_column, params.schema.id_column

    def snapshot(day: dt.date) -> None:
        batch = simulate.generate_day(day, rows, params.simulate.seed, "stable")
        atomic_write_parquet(raw / snapshot_name(day), conform(batch, params.schema))

    def copy(day: dt.date, of: dt.date) -> None:
        """Day `of`'s applications moved to `day` (timestamps and ids), written as day's snapshot."""
        import pandas as pd

        batch = pd.read_parquet(raw / snapshot_name(of))
        batch[ts] = batch[ts] + pd.Timedelta(days=(day - of).days)
        batch[ids] = batch[ids].str.replace(f"{of:%Y%m%d}-", f"{day:%Y%m%d}-", regex=False)
        atomic_write_parquet(raw / snapshot_name(day), batch)

    all_days = [FIRST_DAY + dt.timedelta(days=i) for i in range(days)]
    # Every holdout day and the first `distinct` training days are generated; with --distinct-days the other
    # training days are copies of those (generating 1M rows costs ~10 s of CPU a day), never of a holdout day.
    generated = set(all_days[-holdout_days:]) | set(all_days[: distinct or days])
    for i, day in enumerate(all_days):
        # In a forked child: what writing leaves behind in the heap (freed but not returned to the OS) would
        # otherwise count towards the peak RSS of the stages measured after it. Its CPU counts as child CPU.
        if day in generated:
            rec.run("snapshot.write", in_child, snapshot, day, day=day.isoformat())
        else:
            rec.run("snapshot.copy", in_child, copy, day, all_days[i % distinct], day=day.isoformat())

    finish(rec, params, tmp, out, keep, mode="window", rows_per_day=rows, days=days, code=state)


# --------------------------------------------------------------------------- parent: run sizes, print tables


def _label(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1000 and rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def summarise(result: dict) -> dict[str, dict]:
    """stage -> {seconds, peak_rss_mib, per_day[...]} (per-day stages: mean over the days)."""
    by_stage: dict[str, list[dict]] = {}
    for r in result["records"]:
        by_stage.setdefault(r["stage"], []).append(r)
    out = {}
    for stage, recs in by_stage.items():
        out[stage] = {
            "seconds": statistics.fmean(r["seconds"] for r in recs),
            "cpu_seconds": statistics.fmean(r["cpu_seconds"] + r["child_cpu_seconds"] for r in recs),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in recs),
            "per_day": [r["seconds"] for r in recs] if stage in PER_DAY else None,
            "total_seconds": sum(r["seconds"] for r in recs),
        }
    return out


def render(results: list[dict]) -> str:
    sizes = [_label(r["rows_per_day"]) for r in results]
    summaries = [summarise(r) for r in results]
    stages = [s for s in ONCE + PER_DAY + SNAPSHOT + WINDOW if any(s in m for m in summaries)]
    notes = (
        {s: "per day, mean" for s in PER_DAY + SNAPSHOT}
        | {s: "whole window" for s in WINDOW}
        | {s: "once per process" for s in ONCE}
    )
    head = (
        f"| {'stage':<18} | {'scope':<16} | "
        + " | ".join(f"{s + ' s':>9}" for s in sizes)
        + " | "
        + " | ".join(f"{s + ' cpu s':>10}" for s in sizes)
        + " | "
        + " | ".join(f"{s + ' MiB':>9}" for s in sizes)
        + " |"
    )
    cols = head.strip("|").split("|")
    rule = (
        "|" + "|".join("-" * len(c) if i < 2 else "-" * (len(c) - 1) + ":" for i, c in enumerate(cols)) + "|"
    )
    lines = [head, rule]

    def cell(m: dict, stage: str, key: str, fmt: str) -> str:
        return fmt.format(m[stage][key]) if stage in m else "-"

    for stage in stages:
        secs = [cell(m, stage, "seconds", "{:.2f}") for m in summaries]
        cpu = [cell(m, stage, "cpu_seconds", "{:.2f}") for m in summaries]
        mem = [cell(m, stage, "peak_rss_mib", "{:.0f}") for m in summaries]
        lines.append(
            f"| {stage:<18} | {notes[stage]:<16} | "
            + " | ".join(f"{c:>9}" for c in secs)
            + " | "
            + " | ".join(f"{c:>10}" for c in cpu)
            + " | "
            + " | ".join(f"{c:>9}" for c in mem)
            + " |"
        )
    staged = [[x for x in r["records"] if x["stage"] not in ONCE] for r in results]
    totals = [f"{sum(x['seconds'] for x in recs):.1f}" for recs in staged]
    cpu_totals = [f"{sum(x['cpu_seconds'] + x['child_cpu_seconds'] for x in recs):.1f}" for recs in staged]
    lines.append(
        f"| {'total (all days)':<18} | {'sum of stages':<16} | "
        + " | ".join(f"{c:>9}" for c in totals)
        + " | "
        + " | ".join(f"{c:>10}" for c in cpu_totals)
        + " | "
        + " | ".join(f"{'':>9}" for _ in sizes)
        + " |"
    )

    retrain = [[x for x in recs if x["stage"] in WINDOW and x["stage"] != "gate.champion"] for recs in staged]
    lines.append(
        f"| {'retraining':<18} | {'preprocess..gate':<16} | "
        + " | ".join(f"{sum(x['seconds'] for x in recs):>9.1f}" for recs in retrain)
        + " | "
        + " | ".join(
            f"{sum(x['cpu_seconds'] + x['child_cpu_seconds'] for x in recs):>10.1f}" for recs in retrain
        )
        + " | "
        + " | ".join(f"{max((x['peak_rss_mib'] for x in recs), default=0):>9.0f}" for recs in retrain)
        + " |"
    )
    detail = ["", "Per-day seconds (day 1, day 2, ...):"]
    for size, m in zip(sizes, summaries, strict=True):
        parts = [f"{s} " + "/".join(f"{v:.2f}" for v in m[s]["per_day"]) for s in PER_DAY if s in m]
        if parts:
            detail.append(f"  {size:>4}: " + "; ".join(parts))
    detail.append(
        "Code: "
        + ", ".join(
            f"{_label(r['rows_per_day'])} {r.get('code', {}).get('commit', '?')}"
            + (
                " + uncommitted " + " ".join(c.split()[-1] for c in r["code"]["include_changes"])
                if r.get("code", {}).get("include_changes")
                else ""
            )
            for r in results
        )
    )
    detail.append(
        "Load average (1 min) at start / end of each size: "
        + ", ".join(
            f"{_label(r['rows_per_day'])} {r['loadavg_start']:.2f} / {r['loadavg_end']:.2f}" for r in results
        )
    )
    detail.append(
        "Window: "
        + "; ".join(
            f"{_label(r['rows_per_day'])} {r['days']} days = {r['window']['train_rows']:,} train + "
            f"{r['window']['holdout_rows']:,} holdout rows, holdout ROC AUC {r['holdout_roc_auc']}, "
            f"gate: {r['gate_decision']}"
            + (
                f"; train.max_rows {r['train_max_rows']}, refit_on {r['train_refit_on']}: searched "
                f"{r['rows_search']:,.0f}, refitted {r['rows_refit']:,.0f} rows"
                if r.get("mode") == "window"
                else ""
            )
            for r in results
        )
    )
    return "\n".join(lines + detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="source rows per day, one run per value (default: 10000 100000 1000000)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=3,
        help="application days per run = preprocess.window_days (>= 2; holdout is 1 day)",
    )
    parser.add_argument(
        "--days-for",
        action="append",
        default=[],
        metavar="ROWS=DAYS",
        help="override --days for one size, e.g. 1000000=2",
    )
    parser.add_argument("--json", type=Path, help="also write every raw measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project directories")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each size, wait up to this long for the 1-minute load average to drop below 1",
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="set OMP_NUM_THREADS (and OPENBLAS/MKL) for the runs; default: library default "
        "(one OpenMP thread per core), which collapses when other work shares the cores",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="only print the tables of an earlier run saved with --json",
    )
    parser.add_argument(
        "--window",
        type=int,
        metavar="DAYS",
        help="window mode: DAYS snapshots written straight into data/ as Parquet, then preprocess, train, "
        "evaluate, register, gate on that window (e.g. --window 45 --rows 100000 1000000)",
    )
    parser.add_argument(
        "--holdout-days", type=int, default=10, help="window mode: preprocess.holdout_days (default 10)"
    )
    parser.add_argument(
        "--distinct-days",
        type=int,
        default=0,
        metavar="K",
        help="window mode: generate only the holdout days and the first K training days, the other training "
        "days are copies of those moved to their date (default 0: generate every day)",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None and args.window:
        window_worker(args.worker, args.window, args.holdout_days, args.distinct_days, args.out, args.keep)
        return 0
    if args.worker is not None:
        worker(args.worker, args.days, args.out, args.keep)
        return 0
    if args.from_json:
        print(render(json.loads(args.from_json.read_text())))
        return 0

    per_size = {int(k): int(v) for k, v in (s.split("=") for s in args.days_for)}
    if min([args.days, *per_size.values()]) < 2:
        parser.error("--days must be >= 2 (the window needs training days and a 1-day holdout)")
    print(
        f"python {platform.python_version()} on {platform.node()}, nproc {os.cpu_count()}, "
        f"{dt.datetime.now().isoformat(timespec='seconds')}, OMP_NUM_THREADS="
        f"{args.threads or os.environ.get('OMP_NUM_THREADS', 'unset')}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-results-") as scratch:
        for rows in args.rows:
            days = per_size.get(rows, args.days)
            out = Path(scratch) / f"{rows}.json"
            log = Path(scratch) / f"{rows}.log"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                str(rows),
                "--days",
                str(days),
                "--out",
                str(out),
            ] + (["--keep"] if args.keep else [])
            if args.window:
                cmd += ["--window", str(args.window), "--holdout-days", str(args.holdout_days)]
                cmd += ["--distinct-days", str(args.distinct_days)]
            deadline = time.monotonic() + args.wait_idle
            while os.getloadavg()[0] >= 1 and time.monotonic() < deadline:
                time.sleep(5)
            t0, load0 = time.perf_counter(), os.getloadavg()[0]
            env = dict(os.environ)
            if args.threads:
                for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                    env[var] = str(args.threads)
            with log.open("w") as err:
                proc = subprocess.run(cmd, stderr=err, env=env)
            if proc.returncode != 0:
                print(
                    f"worker for {rows} rows/day failed (exit {proc.returncode}); its stderr:",
                    file=sys.stderr,
                )
                print(log.read_text()[-6000:], file=sys.stderr)
                return 1
            result = json.loads(out.read_text())
            result["process_seconds"] = round(time.perf_counter() - t0, 1)
            result["loadavg_start"], result["loadavg_end"] = load0, os.getloadavg()[0]
            results.append(result)
    print()
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

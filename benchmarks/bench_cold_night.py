"""A new champion's first monitored night (the cold night) at 1M rows x 25 features against Evidently's
DataDriftPreset, in one run: interleaved, repeated, each repeat in a fresh interpreter, CPU and wall seconds with
the load average beside them (issue 24, point 6).

Since issue 24 a champion's first night builds its reference profile, fits its calibrator on the labelled
holdout, decides drift, and then estimates the night's performance before its labels arrive. The data are
bench_monitoring.py's (reference: 7 stable days; current: 7 covariate-shifted days; 25 columns, 8 of them
drifted; a stand-in model score and the simulator's labels). The holdout (the champion's out-of-sample rows, with
labels: what the calibrator and importance weighting learn from) is the first `--holdout-rows` rows of the
reference window.

Methods (each repeat of each method in a fresh interpreter, `--worker`):
  cold      the first night of a champion, every part timed on its own inside one measurement:
              profile      reference_profile.build_profile(reference) + save_profile
              calibrator   stats.calibration.fit_calibrator(holdout scores, labels) + its JSON file
              drift        drift.dataset_drift(profile, current)
              cbpe         stats.cbpe.estimate_cbpe(current scores)
              value        stats.business_value.estimate_business_value(current scores)
              importance   stats.importance.estimate_importance_weighted(holdout, current)
  cached    a later night: load_profile + the calibrator's JSON + drift + cbpe + value + importance
  evidently Report([DataDriftPreset()]).run(...) on the same 25 columns, both Dataset.from_pandas calls included
Every worker runs with one OpenMP / BLAS thread, as `make run` sets for the stack's processes.

    python benchmarks/bench_cold_night.py --rows 1000000 --repeats 3 --json /tmp/cold.json
    python benchmarks/bench_cold_night.py --rows 100000 --repeats 1 --methods cold cached   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_monitoring import (  # noqa: E402
    CUR_START,
    REF_START,
    TRUTH,
    _evidently_verdicts,
    _measure,
    bench_params,
    build_window,
    correctness,
)

METHODS = ("cold", "cached", "evidently")
THRESHOLD = 0.1  # params.yaml evaluate.decision_threshold
# The value of a row in each cell (bench_estimation.py's credit figures).
CREDIT = {"true_positive": 0.0, "false_positive": -120.0, "false_negative": -2500.0, "true_negative": 300.0}
PARTS = ("profile", "calibrator", "drift", "cbpe", "value", "importance")


def _timed_parts():
    """A recorder of (wall, CPU) seconds per named part."""
    parts: dict[str, dict[str, float]] = {}

    def part(name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        parts[name] = {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        return result

    return parts, part


def _estimate(part, calibration, holdout, current, features):
    """The night's estimates, as the monitor makes them: CBPE, business value and importance weighting."""
    from tabular_mlops.stats.business_value import CellValues, estimate_business_value
    from tabular_mlops.stats.cbpe import estimate_cbpe
    from tabular_mlops.stats.importance import estimate_importance_weighted

    cells = CellValues(**CREDIT)
    scores = current["score"].to_numpy()
    cbpe = part("cbpe", lambda: estimate_cbpe(scores, THRESHOLD, calibration))
    value = part("value", lambda: estimate_business_value(scores, THRESHOLD, calibration, cells))
    iw = part(
        "importance",
        lambda: estimate_importance_weighted(
            holdout,
            holdout["score"].to_numpy(),
            holdout["label"].to_numpy().astype(int),
            current,
            features,
            THRESHOLD,
        ),
    )
    return {
        "cbpe_roc_auc": cbpe.metric("roc_auc").to_dict(),
        "value_per_row": value.per_row,
        "importance_roc_auc": iw.metric("roc_auc").to_dict(),
        "importance_details": iw.details,
    }


def worker(method: str, data_dir: Path, holdout_rows: int) -> dict:
    import pandas as pd
    from tabular_mlops.monitoring import drift
    from tabular_mlops.monitoring.reference_profile import build_profile, load_profile, save_profile
    from tabular_mlops.stats.calibration import CalibrationFit, fit_calibrator
    from threadpoolctl import threadpool_limits

    if method == "evidently":
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

    params = bench_params()
    schema, cfg = params.schema, params.monitor
    features = schema.feature_names
    reference = pd.read_parquet(data_dir / "reference.parquet")
    current = pd.read_parquet(data_dir / "current.parquet")
    holdout = reference.iloc[:holdout_rows]
    out: dict = {"method": method, "rows": len(current), "holdout_rows": len(holdout)}
    profile_file, calibrator_file = data_dir / "profile.npz", data_dir / "calibrator.json"

    def fit_and_save_calibrator():
        fit = fit_calibrator(holdout["score"].to_numpy(), holdout["label"].to_numpy().astype(int))
        calibrator_file.write_text(json.dumps(fit.to_dict()))
        return fit

    if method == "cached" and not (profile_file.exists() and calibrator_file.exists()):
        save_profile(build_profile(reference, schema, cfg), profile_file)  # untimed: the cold night did it
        fit_and_save_calibrator()

    parts, part = _timed_parts()
    with threadpool_limits(1):
        if method == "cold":

            def run():
                def profile_and_save():
                    built = build_profile(reference, schema, cfg)
                    save_profile(built, profile_file)
                    return built

                profile = part("profile", profile_and_save)
                calibration = part("calibrator", fit_and_save_calibrator)
                results = part("drift", lambda: drift.dataset_drift(profile, current, schema, cfg))
                return results, _estimate(part, calibration, holdout, current, features)

        elif method == "cached":

            def run():
                def load():
                    fit = CalibrationFit.from_dict(json.loads(calibrator_file.read_text()))
                    return load_profile(profile_file), fit

                profile, calibration = part("profile", load)
                results = part("drift", lambda: drift.dataset_drift(profile, current, schema, cfg))
                return results, _estimate(part, calibration, holdout, current, features)

        else:
            definition = DataDefinition(
                numerical_columns=schema.numeric_features, categorical_columns=schema.categorical_features
            )
            ref, cur = reference[features], current[features]

            def run():
                return Report([DataDriftPreset()]).run(
                    current_data=Dataset.from_pandas(cur, data_definition=definition),
                    reference_data=Dataset.from_pandas(ref, data_definition=definition),
                )

        result, measured = _measure(run)
    if method == "evidently":
        out["columns"], out["evidently_count"] = _evidently_verdicts(result)
    else:
        results, estimates = result
        out["columns"] = {r.column: r.to_dict() for r in results}
        out["estimates"] = estimates
        out["parts"] = parts
    out.update(measured)
    return out


def run_worker(method: str, data_dir: Path, holdout_rows: int, timeout: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        method,
        "--data",
        str(data_dir),
        "--holdout-rows",
        str(holdout_rows),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"method": method, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load1"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(runs: list[dict], features: list[str]) -> str:
    """The Markdown tables: per method (medians, ranges, load), the ratios, and the cold night's parts."""
    by = {m: [r for r in runs if r.get("method") == m and "error" not in r] for m in METHODS}
    lines = [
        "| method | repeats | wall s (median) | wall min-max | CPU s (median) | CPU min-max | peak RSS +MiB (max) "
        "| load1 before-after | flagged | misses | false alarms |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for method, ok in by.items():
        if not ok:
            continue
        verdict = correctness(ok[0]["columns"], features)
        loads = ", ".join(f"{r['load1'][0]:.1f}-{r['load1'][1]:.1f}" for r in ok)
        lines.append(
            f"| {method} | {len(ok)} | {_median(ok, 'seconds'):.2f} | "
            f"{min(r['seconds'] for r in ok):.2f}-{max(r['seconds'] for r in ok):.2f} | "
            f"{_median(ok, 'cpu_s'):.2f} | {min(r['cpu_s'] for r in ok):.2f}-{max(r['cpu_s'] for r in ok):.2f} | "
            f"{max(r['peak_mib'] for r in ok):.0f} | {loads} | {len(verdict['flagged'])}/{len(features)} | "
            f"{len(verdict['misses'])}/{len(TRUTH)} | {len(verdict['false_alarms'])}/{len(features) - len(TRUTH)} |"
        )
    if by["evidently"]:
        lines += ["", "| ratio to Evidently (medians) | wall | CPU |", "|---|---:|---:|"]
        for method in ("cold", "cached"):
            if by[method]:
                lines.append(
                    f"| {method} | {_median(by['evidently'], 'seconds') / _median(by[method], 'seconds'):.1f}x | "
                    f"{_median(by['evidently'], 'cpu_s') / _median(by[method], 'cpu_s'):.1f}x |"
                )
    for method in ("cold", "cached"):
        if not by[method]:
            continue
        lines += [
            "",
            f"{method}: its parts, CPU s (median; min-max)",
            "",
            "| part | CPU s | min-max | wall s |",
        ]
        lines.append("|---|---:|---:|---:|")
        for name in PARTS:
            cpu = [r["parts"][name]["cpu_s"] for r in by[method] if name in r["parts"]]
            wall = [r["parts"][name]["seconds"] for r in by[method] if name in r["parts"]]
            if cpu:
                lines.append(
                    f"| {name} | {statistics.median(cpu):.2f} | {min(cpu):.2f}-{max(cpu):.2f} | "
                    f"{statistics.median(wall):.2f} |"
                )
        estimates = by[method][0]["estimates"]
        lines.append(
            f"\n{method} estimates (first repeat): CBPE ROC AUC {estimates['cbpe_roc_auc']}, importance "
            f"weighting ROC AUC {estimates['importance_roc_auc']}, value per row {estimates['value_per_row']}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the reference and of the night")
    ap.add_argument("--holdout-rows", type=int, default=200_000, help="labelled holdout rows of the champion")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--data-dir", type=Path, help="reuse (or keep) the parquet windows in this folder")
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.holdout_rows), default=str))
        return

    features = bench_params().schema.feature_names
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"# {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} python {platform.python_version()} "
        f"nproc {os.cpu_count()}; uptime: {uptime}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-cold-night-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        if not (data_dir / "current.parquet").exists():
            t0 = time.perf_counter()
            build_window(args.rows, REF_START, "stable", args.seed).to_parquet(data_dir / "reference.parquet")
            build_window(args.rows, CUR_START, "covariate_shift", args.seed).to_parquet(
                data_dir / "current.parquet"
            )
            print(f"# {args.rows:,} rows a side: data built in {time.perf_counter() - t0:.1f} s", flush=True)
        for stale in ("profile.npz", "calibrator.json"):
            (data_dir / stale).unlink(missing_ok=True)
        runs: list[dict] = []
        for repeat in range(args.repeats):
            for method in args.methods:  # interleaved: each repeat runs every method once, in turn
                res = run_worker(method, data_dir, args.holdout_rows, args.timeout)
                res["repeat"] = repeat
                runs.append(res)
                state = res.get("error") or (
                    f"wall {res['seconds']:.2f} s, CPU {res['cpu_s']:.2f} s, +{res['peak_mib']:.0f} MiB, "
                    f"load {res['load1']}"
                )
                print(f"#   repeat {repeat + 1}/{args.repeats} {method:9s}: {state}", flush=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"# done {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}; uptime: {uptime}\n")
    print(report(runs, features))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))


if __name__ == "__main__":
    main()

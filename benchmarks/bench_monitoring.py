"""Nightly monitoring statistics vs Evidently's DataDriftPreset: time, peak memory and correctness on 25 columns.

Data (built once per size in this process, written to parquet, read by every worker):
  reference  N rows, 7 application days from tabular_mlops.data.simulate.generate_day(scenario="stable")
  current    N rows, 7 later days from generate_day(scenario="covariate_shift")   (reference size = current size)
  Both get the simulator's 11 features plus 14 synthetic ones (25 columns: 18 numeric, 7 categorical).
  Known drift in the current window (TRUTH below):
    income, age, has_smartphone   covariate_shift (mean income 50k -> 65k, mean age 35 -> 32, smartphone 70% -> 95%)
    credit_history_length         derived: the simulator draws it from age, so the age shift moves it too
    monthly_spend                 positive lognormal column multiplied by 1.5 (a unit/scale change)
    ext_score                     centred N(0, 1) column multiplied by 1.5 (spread only; the mean stays 0)
    bureau_score                  mean shift of +0.5 sd (N(650, 60) -> N(680, 60))
    channel                       a new category "partner_api" on 2% of rows (other shares scaled by 0.98)
  The other 17 columns keep their distribution (noisy transforms of stable simulator columns + independent ones).

Methods (each repeat of each method runs in a fresh interpreter: `python bench_monitoring.py --worker ...`):
  ours      tabular_mlops.drift.dataset_drift(reference, current, schema, monitor) with a 25-column SchemaConfig
            and MonitorConfig built by dataclasses.replace on load_params("params.yaml") (default_test
            {float: ks, int: ks, category: psi}; params.yaml's column_tests {has_smartphone: psi} is kept), from
            the raw reference frame: reference side and current side (what a champion's first night pays)
  profile   profile.build_profile(reference) + save_profile: the reference side alone, once per champion
  cached    load_profile(the saved profile) + dataset_drift(profile, current): the drift decision of every
            later night (the profile is built and saved before the timed part)
  nightly   what monitoring.monitor_night computes before Evidently on a cached night: load_profile, then
            dataset_drift on the labelled window (here: the current window with its labels) +
            monitoring.summarize (drift on the window and on the last night, score PSI, missing rates, outlier
            share, matured ROC AUC) + alerts.quality_problems
  evidently Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, DataDefinition(numerical=the 18
            numeric, categorical=the 7 categorical)), reference_data=...) with Evidently defaults; the timed part
            includes both Dataset.from_pandas calls. Per-column verdicts come from snapshot.dict(): each
            ValueDrift(column=..., method=..., threshold=...) value, drifted when value >= threshold for a distance
            (Wasserstein normed, Jensen-Shannon, ...) or value < threshold for a p-value test; their count is
            checked against the preset's DriftedColumnsCount.

Memory: peak RSS of the worker during the timed call above the RSS just before it (VmHWM reset to the current RSS
through /proc/self/clear_refs after gc.collect() + malloc_trim(0); falls back to the ru_maxrss delta where that is
not possible). The input frames are loaded before the baseline, so the figure is what the statistics add on top.

    python benchmarks/bench_monitoring.py                                  # 10k, 100k, 1M rows, 3 repeats
    python benchmarks/bench_monitoring.py --rows 10000 100000 --repeats 1 --json /tmp/mon.json
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime as dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

REF_START = dt.date(2026, 1, 1)
CUR_START = dt.date(2026, 3, 1)
DAYS = 7
METHODS = ("ours", "profile", "cached", "nightly", "evidently")

CHANNELS = ["web", "mobile", "branch", "broker"]
CHANNEL_P = [0.50, 0.30, 0.15, 0.05]
STATES = [f"S{i:02d}" for i in range(20)]
EMPLOYMENT = ["salaried", "self_employed", "contractor", "retired", "student"]
EMPLOYMENT_P = [0.62, 0.14, 0.12, 0.08, 0.04]
DEVICE = ["android", "ios", "other"]
DEVICE_P = [0.55, 0.40, 0.05]

# name -> (schema type, categories); the simulator's 11 features come from params.yaml.
SYNTHETIC = {
    "loan_amount_log": ("float", ()),  # log(loan_amount) + N(0, 0.1)
    "dti_score": ("float", ()),  # 100 * debt_to_income + N(0, 5)
    "accounts_per_year": ("float", ()),  # num_open_accounts / (employment_length + 1) * (1 + N(0, .05))
    "installment": ("float", ()),  # loan_amount / 36 * (1 + N(0, 0.05))
    "monthly_spend": ("float", ()),  # lognormal(log 1500, 0.6)            DRIFT: x1.5
    "ext_score": ("float", ()),  # N(0, 1)                                   DRIFT: x1.5 (spread only)
    "bureau_score": ("float", ()),  # N(650, 60)                             DRIFT: +30 (+0.5 sd)
    "utilization": ("float", ()),  # beta(2, 3)
    "num_inquiries": ("int", ()),  # poisson(1.5)
    "tenure_months": ("int", ()),  # uniform integers 0..120
    "channel": ("category", tuple(CHANNELS)),  # DRIFT: new category "partner_api" on 2% of rows
    "state": ("category", tuple(STATES)),
    "employment_type": ("category", tuple(EMPLOYMENT)),
    "device_os": ("category", tuple(DEVICE)),
}
TRUTH = {
    "income": "covariate_shift: lognormal mean 50k -> 65k",
    "age": "covariate_shift: normal mean 35 -> 32",
    "has_smartphone": "covariate_shift: share 0.70 -> 0.95",
    "credit_history_length": "derived from age in the simulator",
    "monthly_spend": "positive column x1.5",
    "ext_score": "centred N(0,1) column x1.5 (spread only)",
    "bureau_score": "mean shift +0.5 sd",
    "channel": "new category on 2% of rows",
}


# --------------------------------------------------------------------------- data


def _synthetic(df, rng, drifted: bool):
    import numpy as np

    n = len(df)
    loan = df["loan_amount"].to_numpy(float)
    out = {
        "loan_amount_log": np.log(loan) + rng.normal(0, 0.1, n),
        "dti_score": 100 * df["debt_to_income"].to_numpy(float) + rng.normal(0, 5, n),
        "accounts_per_year": df["num_open_accounts"].to_numpy(float)
        / (df["employment_length"].to_numpy(float) + 1)
        * (1 + rng.normal(0, 0.05, n)),
        "installment": loan / 36 * (1 + rng.normal(0, 0.05, n)),
        "monthly_spend": rng.lognormal(np.log(1500), 0.6, n) * (1.5 if drifted else 1.0),
        "ext_score": rng.normal(0, 1, n) * (1.5 if drifted else 1.0),
        "bureau_score": rng.normal(680 if drifted else 650, 60, n),
        "utilization": rng.beta(2, 3, n),
        "num_inquiries": rng.poisson(1.5, n),
        "tenure_months": rng.integers(0, 121, n),
        "channel": rng.choice(
            CHANNELS + ["partner_api"] if drifted else CHANNELS,
            n,
            p=[p * 0.98 for p in CHANNEL_P] + [0.02] if drifted else CHANNEL_P,
        ),
        "state": rng.choice(STATES, n),
        "employment_type": rng.choice(EMPLOYMENT, n, p=EMPLOYMENT_P),
        "device_os": rng.choice(DEVICE, n, p=DEVICE_P),
    }
    for name, values in out.items():
        df[name] = values
    # A stand-in model score (stable; only `nightly` uses it) and the label column the prediction log carries.
    logit = -3.5 + 4.5 * (df["debt_to_income"].to_numpy(float) - 0.35) + rng.normal(0, 0.5, n)
    df["score"] = 1 / (1 + np.exp(-logit))
    df["label"] = df["defaulted"].astype(float)
    return df


def build_window(rows: int, start: dt.date, scenario: str, seed: int):
    """`rows` rows over DAYS application days (generate_day per day) plus the 14 synthetic columns."""
    import numpy as np
    import pandas as pd
    from tabular_mlops.data.simulate import generate_day

    per_day = [rows // DAYS + (1 if i < rows % DAYS else 0) for i in range(DAYS)]
    days = [generate_day(start + dt.timedelta(days=i), n, seed, scenario) for i, n in enumerate(per_day)]
    df = pd.concat(days, ignore_index=True)
    rng = np.random.default_rng([seed, start.toordinal(), rows])
    return _synthetic(df, rng, drifted=scenario != "stable")


def bench_params():
    """params.yaml with the schema extended to 25 features and monitor.default_test pinned."""
    from tabular_mlops.core.config import FeatureSpec, load_params

    params = load_params(REPO / "params.yaml")
    extra = tuple(FeatureSpec(name=k, type=t, categories=c) for k, (t, c) in SYNTHETIC.items())
    schema = dataclasses.replace(params.schema, features=params.schema.features + extra)
    monitor = dataclasses.replace(
        params.monitor, default_test={"float": "ks", "int": "ks", "category": "psi"}
    )
    assert len(schema.features) == 25, len(schema.features)
    assert set(TRUTH) <= set(schema.feature_names)
    return dataclasses.replace(params, schema=schema, monitor=monitor)


# --------------------------------------------------------------------------- worker (fresh interpreter)


def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _settle() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _measure(fn):
    """Run fn() once; return (result, {seconds, cpu_s, peak_mib above the RSS at the start, rss_before_mib, how})."""
    _settle()
    rss0 = _status_kib("VmRSS")
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        Path("/proc/self/clear_refs").write_text("5")
        how = "VmHWM-reset"
    except OSError:
        how = "ru_maxrss-delta"
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if how == "VmHWM-reset" and rss0 is not None:
        peak = (_status_kib("VmHWM") - rss0) / 1024
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss0) / 1024
    return result, {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_mib": peak,
        "rss_before_mib": (rss0 or 0) / 1024,
        "memory_measure": how,
    }


def _evidently_verdicts(snapshot) -> tuple[dict, dict]:
    """Per-column {drifted, value, method, threshold} from a 0.7 snapshot.dict(), and the preset's count."""
    verdicts, count = {}, {}
    for m in snapshot.dict()["metrics"]:
        cfg = m.get("config", {})
        kind = cfg.get("type", "")
        if kind.endswith(":ValueDrift"):
            method, threshold, value = cfg["method"], float(cfg["threshold"]), float(m["value"])
            pvalue_test = "p_value" in method or method in {
                "Mann-Whitney U-rank test",
                "t_test",
                "g_test",
                "Epps-Singleton",
                "Fisher's Exact test",
                "Anderson-Darling",
                "Cramer-von Mises",
            }
            drifted = value < threshold if pvalue_test else value >= threshold
            verdicts[cfg["column"]] = {
                "drifted": bool(drifted),
                "value": value,
                "method": method,
                "threshold": threshold,
            }
        elif kind.endswith(":DriftedColumnsCount"):
            count = m["value"]
    return verdicts, count


def worker(method: str, data_dir: Path) -> dict:
    t_import = time.perf_counter()
    import pandas as pd
    from tabular_mlops.monitoring import drift
    from tabular_mlops.monitoring import night_summary as monitoring
    from tabular_mlops.monitoring.decision import quality_problems
    from tabular_mlops.monitoring.log_window import Population
    from tabular_mlops.monitoring.reference_profile import build_profile, load_profile, save_profile

    if method == "evidently":
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    t_import = time.perf_counter() - t_import

    params = bench_params()
    schema, cfg = params.schema, params.monitor
    reference = pd.read_parquet(data_dir / "reference.parquet")
    current = pd.read_parquet(data_dir / "current.parquet")
    out: dict = {"method": method, "rows": len(current), "import_s": t_import}
    saved = data_dir / "reference_profile.npz"
    if method in ("cached", "nightly") and not saved.exists():
        save_profile(
            build_profile(reference, schema, cfg), saved
        )  # untimed: the champion's first night did it

    if method == "ours":
        results, measured = _measure(lambda: drift.dataset_drift(reference, current, schema, cfg))
        out["columns"] = {r.column: r.to_dict() for r in results}
    elif method == "profile":
        profile, measured = _measure(
            lambda: save_profile(build_profile(reference, schema, cfg), data_dir / "p.npz")
        )
        out["columns"] = {}
    elif method == "cached":

        def run():
            return drift.dataset_drift(load_profile(saved), current, schema, cfg)

        results, measured = _measure(run)
        out["columns"] = {r.column: r.to_dict() for r in results}
    elif method == "nightly":
        night = current[schema.timestamp_column].max().date()

        def run():
            profile = load_profile(saved)
            labelled = current[current["label"].notna()]
            counts = Population.of_rows(current, labelled, night, schema)
            night_drift = drift.night_drift(profile, current, labelled, counts, night, schema, cfg)
            summary = monitoring.summarize(
                schema, cfg, profile, night_drift, current, labelled, night, counts
            )
            return summary, quality_problems(summary, cfg)

        (summary, problems), measured = _measure(run)
        out["columns"] = {c.column: c.to_dict() for c in summary.window.columns}
        out["last_night_rows"] = summary.last_night.rows if summary.last_night else None
        out["alerts"] = problems
    elif method == "evidently":
        features = schema.feature_names
        ref, cur = reference[features], current[features]
        definition = DataDefinition(
            numerical_columns=schema.numeric_features, categorical_columns=schema.categorical_features
        )

        def run():
            return Report([DataDriftPreset()]).run(
                current_data=Dataset.from_pandas(cur, data_definition=definition),
                reference_data=Dataset.from_pandas(ref, data_definition=definition),
            )

        snapshot, measured = _measure(run)
        out["columns"], out["evidently_count"] = _evidently_verdicts(snapshot)
    else:
        raise SystemExit(f"unknown method {method!r}")
    out.update(measured)
    return out


# --------------------------------------------------------------------------- driver


def correctness(columns: dict, features: list[str]) -> dict:
    flagged = [c for c in features if columns.get(c, {}).get("drifted")]
    misses = [c for c in TRUTH if c not in flagged]
    false_alarms = [c for c in flagged if c not in TRUTH]
    return {"flagged": flagged, "misses": misses, "false_alarms": false_alarms}


def run_worker(method: str, data_dir: Path, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--data", str(data_dir)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"method": method, "error": f"exit {proc.returncode}: {' | '.join(tail)}", "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def _fmt_list(items: list[str]) -> str:
    return ", ".join(items) if items else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="fresh interpreters per method and size")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.data), default=str))
        return

    params = bench_params()
    features = params.schema.feature_names
    print(
        f"# {dt.datetime.now().isoformat(timespec='seconds')}  python {platform.python_version()}  "
        f"nproc {os.cpu_count()}  load {os.getloadavg()[0]:.2f}  {platform.platform()}"
    )
    print(
        f"# 25 columns ({len(params.schema.numeric_features)} numeric, "
        f"{len(params.schema.categorical_features)} categorical); known drift: {', '.join(TRUTH)}"
    )
    all_runs: list[dict] = []
    rows_out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        for n in args.rows:
            data_dir = Path(tmp) / str(n)
            data_dir.mkdir()
            t0 = time.perf_counter()
            build_window(n, REF_START, "stable", args.seed).to_parquet(data_dir / "reference.parquet")
            build_window(n, CUR_START, "covariate_shift", args.seed).to_parquet(data_dir / "current.parquet")
            print(f"# {n} rows: data built in {time.perf_counter() - t0:.1f} s", flush=True)
            for method in args.methods:
                runs = []
                for r in range(args.repeats):
                    res = run_worker(method, data_dir, args.timeout)
                    res.update(rows=n, repeat=r, load1=os.getloadavg()[0])
                    runs.append(res)
                    all_runs.append(res)
                    state = res.get("error") or f"{res['seconds']:.2f} s, +{res['peak_mib']:.0f} MiB"
                    print(f"#   {method:9s} repeat {r + 1}/{args.repeats}: {state}", flush=True)
                    if "error" in res:
                        break
                ok = [x for x in runs if "error" not in x]
                row = {"rows": n, "method": method, "runs": len(ok)}
                if ok:
                    row.update(
                        seconds=statistics.median(x["seconds"] for x in ok),
                        seconds_min=min(x["seconds"] for x in ok),
                        seconds_max=max(x["seconds"] for x in ok),
                        cpu_s=statistics.median(x["cpu_s"] for x in ok),
                        load1=statistics.mean(x["load1"] for x in ok),
                        peak_mib=max(x["peak_mib"] for x in ok),
                        rss_before_mib=ok[0]["rss_before_mib"],
                        import_s=statistics.median(x["import_s"] for x in ok),
                        **(
                            correctness(ok[0]["columns"], features)
                            if ok[0]["columns"]
                            else {"flagged": [], "misses": [], "false_alarms": []}
                        ),
                    )
                    if method == "evidently":
                        count = ok[0].get("evidently_count", {}).get("count")
                        row["count_check"] = count is not None and int(count) == len(row["flagged"])
                    if method == "ours":
                        cols = ok[0]["columns"]
                        row["not_drifted_but_noted"] = [
                            f"{c} ({cols[c]['band']} PSI {cols[c]['psi']:.3f}"
                            + (
                                f", {cols[c]['test']} {cols[c]['statistic']:.3f}"
                                if cols[c]["test"] == "ks"
                                else ""
                            )
                            + (f"; {'; '.join(cols[c]['flags'])}" if cols[c]["flags"] else "")
                            + ")"
                            for c in row["misses"]
                        ]
                    row["detail"] = ok[0]["columns"]
                else:
                    row["error"] = runs[-1]["error"]
                rows_out.append(row)

    print()
    print(
        "| rows (ref = cur) | method | time s (median) | min-max s | CPU s (median) | peak RSS +MiB (max) "
        "| load1 | flagged | misses | false alarms |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows_out:
        if "error" in row:
            print(f"| {row['rows']:,} | {row['method']} | {row['error']} | | | | | | | |")
            continue
        verdicts = (
            "- | - | -"
            if row["method"] == "profile"
            else f"{len(row['flagged'])}/25 | {len(row['misses'])}/{len(TRUTH)} | "
            f"{len(row['false_alarms'])}/{25 - len(TRUTH)}"
        )
        print(
            f"| {row['rows']:,} | {row['method']} | {row['seconds']:.2f} | "
            f"{row['seconds_min']:.2f}-{row['seconds_max']:.2f} | {row['cpu_s']:.2f} | {row['peak_mib']:.0f} | "
            f"{row['load1']:.1f} | {verdicts} |"
        )
    print()
    print("Misses and false alarms per size (ours = nightly on the current window; same test, same data):")
    for row in rows_out:
        if "error" in row or row["method"] in ("nightly", "profile"):
            continue
        print(
            f"- {row['rows']:,} {row['method']}: misses {_fmt_list(row['misses'])}; "
            f"false alarms {_fmt_list(row['false_alarms'])}"
        )
        if row.get("not_drifted_but_noted"):
            print(f"    missed columns as reported: {'; '.join(row['not_drifted_but_noted'])}")
        if "count_check" in row:
            print(f"    per-column verdicts agree with DriftedColumnsCount: {row['count_check']}")
    print()
    print("Per-column statistics at the largest size (ours: test statistic / PSI; evidently: method value):")
    largest = max(r["rows"] for r in rows_out)
    by_method = {r["method"]: r for r in rows_out if r["rows"] == largest and "detail" in r}
    print(
        "| column | truth | ours test | ours stat | ours PSI | ours drifted | evidently method | value | drifted |"
    )
    print("|---|---|---|---:|---:|---|---|---:|---|")
    for c in features:
        o = by_method.get("ours", {}).get("detail", {}).get(c, {})
        e = by_method.get("evidently", {}).get("detail", {}).get(c, {})
        print(
            f"| {c} | {'DRIFT' if c in TRUTH else 'stable'} | {o.get('test', '')} | "
            f"{o.get('statistic', float('nan')):.4f} | {o.get('psi', float('nan')):.4f} | {o.get('drifted', '')} | "
            f"{e.get('method', '')} | {e.get('value', float('nan')):.4f} | {e.get('drifted', '')} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"runs": all_runs, "summary": rows_out}, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Performance estimated before labels arrive, on drills where the truth is known: this project's CBPE and
importance weighting (tabular_mlops.stats) beside NannyML's CBPE on the same nights, graded against the labels.

World: tabular_mlops.data.simulate.generate_day (the example's credit applications; P(default | x) is the
simulator's). The lender's reference population only ever had debt_to_income <= 0.5 (rows kept by rejection), so
the model has never seen a higher one. Model: HistGradientBoosting as params.yaml's first candidate, trained on
TRAIN_DAYS days; the next HOLDOUT_DAYS days are its out-of-sample holdout (the calibrator's and importance
weighting's labelled reference). Then NIGHTS nights of ROWS rows; every drill is stable up to night ONSET-1:
  stable              no change
  covariate_benign    simulate's covariate_shift (income up, age down, smartphones up); P(y | x) unchanged
  covariate_harmful   70% of applicants now have debt_to_income in (0.5, 1.2]: P(y | x) unchanged, but the model
                      extrapolates (its trees are flat beyond 0.5), so it ranks those applicants badly
  concept_drift       simulate's concept_drift: the same applicants, a different P(y | x)
  label_drift         simulate's label_drift: the base default rate several times higher
A night is flagged when its estimated ROC AUC is below the holdout's ROC AUC minus MARGIN.

    PYTHONPATH=include python benchmarks/bench_estimation.py                # drills + cost at 1M rows
    PYTHONPATH=include python benchmarks/bench_estimation.py --nights 12 --no-nannyml --no-cost   # quick look
    PYTHONPATH=include python benchmarks/bench_estimation.py --no-cost --importance-before   # domain classifier's budget vs before

NannyML runs in its own venv (.bench-venv: python3.11 -m venv .bench-venv && .bench-venv/bin/pip install
nannyml==0.13.1 statsmodels 'pandas<3'), through benchmarks/estimation_nannyml_worker.py on parquet files."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from estimation_report import BEFORE, summarize
from sklearn.ensemble import HistGradientBoostingClassifier
from tabular_mlops.data.simulate import HOME, PURPOSE, REGION, generate_day
from tabular_mlops.stats.business_value import CellValues, estimate_business_value, realized_business_value
from tabular_mlops.stats.calibration import fit_calibrator
from tabular_mlops.stats.cbpe import EstimationSettings, estimate_cbpe
from tabular_mlops.stats.importance import ImportanceSettings, estimate_importance_weighted
from tabular_mlops.stats.metrics import realized_performance
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
FEATURES = [
    "income",
    "age",
    "has_smartphone",
    "employment_length",
    "loan_amount",
    "debt_to_income",
    "credit_history_length",
    "num_open_accounts",
    "home_ownership",
    "loan_purpose",
    "region",
]
CATEGORIES = {"home_ownership": HOME, "loan_purpose": PURPOSE, "region": REGION}
DRILLS = ("stable", "covariate_benign", "covariate_harmful", "concept_drift", "label_drift")
SEED = 42
THRESHOLD = 0.1  # params.yaml evaluate.decision_threshold
MARGIN = 0.03
DTI_SEEN = 0.5
CREDIT = CellValues(true_positive=0.0, false_positive=-120.0, false_negative=-2500.0, true_negative=300.0)
START = dt.date(2026, 1, 1)
# ImportanceSettings before the domain classifier got its budget (--importance-before).
IMPORTANCE_BEFORE = {"folds": 3, "train_rows": 20_000, "trees": 100, "learning_rate": 0.1}


def applications(day: dt.date, rows: int, scenario: str, high_dti_share: float = 0.0) -> pd.DataFrame:
    """`rows` applications of `day`: debt_to_income <= DTI_SEEN, except `high_dti_share` of them above it."""
    pool = generate_day(day, rows * 4, SEED, scenario)
    low = pool[pool["debt_to_income"] <= DTI_SEEN]
    high = pool[pool["debt_to_income"] > DTI_SEEN]
    n_high = int(round(rows * high_dti_share))
    assert len(low) >= rows - n_high and len(high) >= n_high, "pool too small"
    out = pd.concat([low.iloc[: rows - n_high], high.iloc[:n_high]], ignore_index=True)
    return out.sample(frac=1.0, random_state=day.toordinal()).reset_index(drop=True)


def model_input(df: pd.DataFrame) -> pd.DataFrame:
    x = df[FEATURES].copy()
    for col, cats in CATEGORIES.items():
        x[col] = pd.Categorical(x[col], categories=cats)
    return x


def drill_night(drill: str, night: int, rows: int, onset: int) -> pd.DataFrame:
    day = START + dt.timedelta(days=100 + night)
    if night < onset or drill == "stable":
        return applications(day, rows, "stable")
    if drill == "covariate_benign":
        return applications(day, rows, "covariate_shift")
    if drill == "covariate_harmful":
        return applications(day, rows, "stable", high_dti_share=0.7)
    return applications(day, rows, drill)


def fit_world(
    train_days: int, holdout_days: int, rows: int
) -> tuple[HistGradientBoostingClassifier, pd.DataFrame]:
    days = [START + dt.timedelta(days=i) for i in range(train_days + holdout_days)]
    frames = [
        applications(d, rows, "stable").assign(part="train" if i < train_days else "holdout")
        for i, d in enumerate(days)
    ]
    data = pd.concat(frames, ignore_index=True)
    train = data[data["part"] == "train"]
    model = HistGradientBoostingClassifier(
        learning_rate=0.05, max_depth=3, max_iter=200, categorical_features="from_dtype", random_state=SEED
    ).fit(model_input(train), train["defaulted"])
    holdout = data[data["part"] == "holdout"].reset_index(drop=True)
    holdout["score"] = model.predict_proba(model_input(holdout))[:, 1]
    return model, holdout


def run_drills(args: argparse.Namespace) -> dict:
    model, holdout = fit_world(args.train_days, args.holdout_days, args.rows)
    calibration = fit_calibrator(holdout["score"].to_numpy(), holdout["defaulted"].to_numpy(), seed=SEED)
    reference_auc = realized_performance(
        holdout["score"].to_numpy(), holdout["defaulted"].to_numpy(), THRESHOLD
    )
    settings = EstimationSettings(min_rows=500, draws=300, seed=SEED)
    importance = ImportanceSettings(seed=SEED)
    # The domain classifier as it was before its budget (3 folds on every row, 100 trees), run on the same nights.
    variants = {"importance_weighting": importance}
    if args.importance_before:
        variants[BEFORE] = replace(importance, **IMPORTANCE_BEFORE)
    print(
        f"holdout: {len(holdout)} rows, ROC AUC {reference_auc.metric('roc_auc').value:.4f}; {calibration.reason}"
    )
    out: dict = {
        "reference_roc_auc": reference_auc.metric("roc_auc").value,
        "calibration": calibration.to_dict(),
        "drills": {},
    }
    nights_for_nannyml = []
    for drill in DRILLS:
        rows = []
        started = time.perf_counter()
        for night in range(1, args.nights + 1):
            df = drill_night(drill, night, args.rows, args.onset)
            scores = model.predict_proba(model_input(df))[:, 1]
            labels = df["defaulted"].to_numpy()
            cbpe = estimate_cbpe(scores, THRESHOLD, calibration, settings)
            weighted, cpu = {}, {}
            # Interleaved: the variants swap places every night, so neither always runs on a warmer cache.
            for name in list(variants)[:: 1 if night % 2 else -1]:
                started_cpu = time.process_time()
                weighted[name] = estimate_importance_weighted(
                    model_input(holdout),
                    holdout["score"].to_numpy(),
                    holdout["defaulted"].to_numpy(),
                    model_input(df),
                    FEATURES,
                    THRESHOLD,
                    settings,
                    variants[name],
                ).to_dict()
                cpu[name] = time.process_time() - started_cpu
            rows.append(
                {
                    "night": night,
                    "realized": realized_performance(scores, labels, THRESHOLD).to_dict(),
                    "cbpe": cbpe.to_dict(),
                    **weighted,
                    "importance_cpu_s": cpu,
                    "value_estimated": estimate_business_value(
                        scores, THRESHOLD, calibration, CREDIT
                    ).to_dict(),
                    "value_realized": realized_business_value(scores, labels, THRESHOLD, CREDIT).to_dict(),
                }
            )
            ts = pd.Timestamp(START + dt.timedelta(days=100 + night)) + pd.to_timedelta(
                np.arange(len(df)) * 5, unit="s"
            )
            nights_for_nannyml.append(
                pd.DataFrame(
                    {"drill": drill, "ts": ts, "score": scores, "pred": (scores >= THRESHOLD).astype(int)}
                )
            )
        print(f"{drill}: {args.nights} nights in {time.perf_counter() - started:.0f} s", flush=True)
        out["drills"][drill] = rows
    if args.nannyml:
        out["nannyml"] = run_nannyml(holdout, pd.concat(nights_for_nannyml, ignore_index=True), big=None)
    return out


def run_nannyml(holdout: pd.DataFrame, nights: pd.DataFrame, big: pd.DataFrame | None) -> dict:
    python = REPO / ".bench-venv" / "bin" / "python"
    if not python.exists():
        return {"error": f"{python} not found: create the benchmark venv (see this file's docstring)"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ts = pd.Timestamp(START) + pd.to_timedelta(np.arange(len(holdout)) * 20, unit="s")
        pd.DataFrame(
            {
                "ts": ts,
                "score": holdout["score"],
                "pred": (holdout["score"] >= THRESHOLD).astype(int),
                "y": holdout["defaulted"],
            }
        ).to_parquet(folder / "reference.parquet")
        nights.to_parquet(folder / "nights.parquet")
        if big is not None:
            big.to_parquet(folder / "big.parquet")
        done = subprocess.run(
            [str(python), str(REPO / "benchmarks" / "estimation_nannyml_worker.py"), tmp, str(THRESHOLD)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds over `repeats` and the 1-minute load average after (on a shared machine the
    CPU seconds are the figure to compare)."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(times)), float(np.median(cpu)), os.getloadavg()[0]


def cost(rows: int, repeats: int, with_nannyml: bool) -> str:
    model, holdout = fit_world(8, 8, 5000)
    calibration = fit_calibrator(holdout["score"].to_numpy(), holdout["defaulted"].to_numpy(), seed=SEED)
    night = drill_night("covariate_benign", 20, 5000, 11)
    big = night.sample(rows, replace=True, random_state=SEED).reset_index(drop=True)
    scores = model.predict_proba(model_input(big))[:, 1]
    labels = big["defaulted"].to_numpy()
    ref_x, ref_s, ref_y = model_input(holdout), holdout["score"].to_numpy(), holdout["defaulted"].to_numpy()
    big_x = model_input(big)
    runs = {
        "cbpe (estimate_cbpe)": lambda: estimate_cbpe(scores, THRESHOLD, calibration),
        "business value (estimate_business_value)": lambda: estimate_business_value(
            scores, THRESHOLD, calibration, CREDIT
        ),
        "importance weighting (estimate_importance_weighted, 11 features)": lambda: (
            estimate_importance_weighted(ref_x, ref_s, ref_y, big_x, FEATURES, THRESHOLD)
        ),
        "realized figures (realized_performance)": lambda: realized_performance(scores, labels, THRESHOLD),
    }
    lines = [
        f"Cost at {rows:,} rows a night (holdout {len(holdout):,} rows), median of {repeats}:",
        "",
        "| what | wall s | CPU s | load1 after |",
        "| --- | --- | --- | --- |",
    ]
    cpu_total = 0.0
    for name, fn in runs.items():
        seconds, cpu, load = timed(fn, repeats)
        cpu_total += cpu if "realized" not in name else 0.0
        lines.append(f"| {name} | {seconds:.2f} | {cpu:.2f} | {load:.2f} |")
        print(lines[-1], flush=True)
    lines.append(f"| the estimator (CBPE + business value + importance weighting) | | {cpu_total:.2f} | |")
    if with_nannyml:
        ts = pd.Timestamp(START + dt.timedelta(days=200)) + pd.to_timedelta(np.arange(rows) * 0.05, unit="s")
        frame = pd.DataFrame({"ts": ts, "score": scores, "pred": (scores >= THRESHOLD).astype(int)})
        nml = run_nannyml(holdout, frame.iloc[:0].assign(drill=[]), big=frame)
        if "big_seconds" in nml:
            lines.append(
                f"| NannyML CBPE fit + estimate (4 metrics), its venv | {nml['big_seconds']:.2f} | | "
                f"{os.getloadavg()[0]:.2f} |"
            )
        else:
            lines.append(f"| NannyML CBPE | failed: {nml.get('error', '')[:200]} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--rows", type=int, default=5000, help="rows per night and per reference day")
    parser.add_argument("--onset", type=int, default=11)
    parser.add_argument("--train-days", type=int, default=20)
    parser.add_argument("--holdout-days", type=int, default=6)
    parser.add_argument("--cost-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-nannyml", dest="nannyml", action="store_false")
    parser.add_argument("--no-cost", dest="cost", action="store_false")
    parser.add_argument(
        "--no-drills", dest="drills", action="store_false", help="only the cost at --cost-rows"
    )
    parser.add_argument(
        "--importance-before",
        action="store_true",
        help="also run importance weighting as it was before the domain classifier's budget, on the same nights",
    )
    parser.add_argument("--json", type=Path, help="write every night's figures here")
    args = parser.parse_args()
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    # One OpenMP thread: on a shared 2-core machine HistGradientBoosting's spinning threads cost 5-10x (measured:
    # 114 s vs 11 s for one domain classifier at load 12).
    with threadpool_limits(1):
        if args.drills:
            result = run_drills(args)
            if args.json:
                args.json.write_text(json.dumps(result, indent=1, allow_nan=False))
            print(summarize(result, args.onset, MARGIN, CREDIT), flush=True)
        if args.cost:
            print(cost(args.cost_rows, args.repeats, args.nannyml))
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

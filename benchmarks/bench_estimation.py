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
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits
from tabular_mlops.data.simulate import HOME, PURPOSE, REGION, generate_day
from tabular_mlops.stats.business_value import CellValues, estimate_business_value, realized_business_value
from tabular_mlops.stats.calibration import fit_calibrator
from tabular_mlops.stats.cbpe import EstimationSettings, estimate_cbpe
from tabular_mlops.stats.estimate_grading import NightFigures, grade_estimates
from tabular_mlops.stats.importance import ImportanceSettings, estimate_importance_weighted
from tabular_mlops.stats.metrics import realized_performance

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
            iw = estimate_importance_weighted(
                model_input(holdout),
                holdout["score"].to_numpy(),
                holdout["defaulted"].to_numpy(),
                model_input(df),
                FEATURES,
                THRESHOLD,
                settings,
                importance,
            )
            rows.append(
                {
                    "night": night,
                    "realized": realized_performance(scores, labels, THRESHOLD).to_dict(),
                    "cbpe": cbpe.to_dict(),
                    "importance_weighting": iw.to_dict(),
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


def night_figures(rows: list[dict], method: str, metric: str) -> list[NightFigures]:
    out = []
    for r in rows:
        est = r[method]["metrics"][metric]
        out.append(
            NightFigures(
                f"{r['night']:03d}",
                est["value"],
                est["lower"],
                est["upper"],
                r["realized"]["metrics"][metric]["value"],
            )
        )
    return out


def nannyml_figures(
    rows: list[dict], nml_rows: list[dict], metric: str, z: float | None
) -> list[NightFigures]:
    """NannyML's estimates: its shipped band (value +- 3 sampling errors) when z is None, else value +- z of them."""
    out = []
    for r, n in zip(rows, nml_rows, strict=True):
        m = n[metric]
        lower, upper = (
            (m["lower"], m["upper"])
            if z is None
            else (m["value"] - z * m["sampling_error"], m["value"] + z * m["sampling_error"])
        )
        out.append(
            NightFigures(
                f"{r['night']:03d}", m["value"], lower, upper, r["realized"]["metrics"][metric]["value"]
            )
        )
    return out


def flagged_nights(figures: list[NightFigures], floor: float) -> list[int]:
    return [int(f.night) for f in figures if f.estimate is not None and f.estimate < floor]


def summarize(result: dict, onset: int) -> str:
    floor = result["reference_roc_auc"] - MARGIN
    nml = result.get("nannyml", {})
    nml_ok = "drills" in nml
    lines = [
        f"Holdout ROC AUC {result['reference_roc_auc']:.4f}; a night is flagged when its estimated ROC AUC < {floor:.4f} "
        f"(margin {MARGIN}); the problem starts on night {onset}. Concept-drift alert: realized outside the interval "
        "on 3 matured nights in a row (matured-night number; in production add label_delay_days).",
        "",
        "| drill | method | first flagged night | nights flagged | ROC AUC MAE | MAE from onset | coverage | withheld | alert night |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for drill, rows in result["drills"].items():
        realized = [r["realized"]["metrics"]["roc_auc"]["value"] for r in rows]
        below = [r["night"] for r, v in zip(rows, realized, strict=True) if v < floor]
        before = np.mean(realized[: onset - 1]) if onset > 1 else float("nan")
        after = np.mean(realized[onset - 1 :]) if len(realized) >= onset else float("nan")
        lines.append(
            f"| {drill} | realized | {below[0] if below else '-'} | {len(below)} | mean {before:.3f} before, "
            f"{after:.3f} from onset | | | | |"
        )
        methods = [(m, night_figures(rows, m, "roc_auc")) for m in ("cbpe", "importance_weighting")]
        if nml_ok:
            methods.append(
                ("nannyml (±3σ, shipped)", nannyml_figures(rows, nml["drills"][drill], "roc_auc", None))
            )
            methods.append(("nannyml (±1.96σ)", nannyml_figures(rows, nml["drills"][drill], "roc_auc", 1.96)))
        for name, figs in methods:
            grade = grade_estimates("roc_auc", name, figs, 3)
            late = grade_estimates("roc_auc", name, [f for f in figs if int(f.night) >= onset], 3)
            flags = flagged_nights(figs, floor)
            withheld = sum(f.estimate is None for f in figs)
            cov = "-" if grade.coverage is None else f"{grade.coverage:.0%}"
            mae = "-" if grade.mean_absolute_error is None else f"{grade.mean_absolute_error:.4f}"
            late_mae = "-" if late.mean_absolute_error is None else f"{late.mean_absolute_error:.4f}"
            alert = next((int(n.night) for n in grade.nights if n.consecutive_misses >= 3), None)
            lines.append(
                f"| {drill} | {name} | {flags[0] if flags else '-'} | {len(flags)} | {mae} | {late_mae} | {cov} | "
                f"{withheld} | {alert or '-'} |"
            )
    lines += ["", "Other metrics, MAE (coverage) over all nights:", ""]
    metrics = ("pr_auc", "precision", "recall", "brier")
    lines += ["| drill | method | " + " | ".join(metrics) + " |", "| --- | --- |" + " --- |" * len(metrics)]
    for drill, rows in result["drills"].items():
        for name in ("cbpe", "importance_weighting", "nannyml (±1.96σ)"):
            cells = []
            for metric in metrics:
                if name.startswith("nannyml"):
                    if not nml_ok or metric == "brier":
                        cells.append("-")
                        continue
                    figs = nannyml_figures(rows, nml["drills"][drill], metric, 1.96)
                else:
                    figs = night_figures(rows, name, metric)
                g = grade_estimates(metric, name, figs, 3)
                cells.append(
                    "-"
                    if g.mean_absolute_error is None
                    else f"{g.mean_absolute_error:.4f} ({g.coverage or 0:.0%})"
                )
            lines.append(f"| {drill} | {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Business value per application (cells {CREDIT.to_dict()}), CBPE estimate vs realized:",
        "",
    ]
    lines += [
        "| drill | mean realized | mean estimated | MAE per row | coverage |",
        "| --- | --- | --- | --- | --- |",
    ]
    for drill, rows in result["drills"].items():
        est = [r["value_estimated"] for r in rows]
        real = [r["value_realized"] for r in rows]
        figs = [
            NightFigures(
                f"{i:03d}", e["per_row"], e["lower"] / e["rows"], e["upper"] / e["rows"], r["per_row"]
            )
            for i, (e, r) in enumerate(zip(est, real, strict=True))
        ]
        g = grade_estimates("value", "cbpe", figs, 3)
        lines.append(
            f"| {drill} | {np.mean([r['per_row'] for r in real]):.2f} | {np.mean([e['per_row'] for e in est]):.2f} | "
            f"{g.mean_absolute_error:.2f} | {g.coverage:.0%} |"
        )
    if not nml_ok:
        lines += ["", f"NannyML: not run ({nml.get('error', 'disabled with --no-nannyml')})"]
    return "\n".join(lines)


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median seconds over `repeats` and the 1-minute load average after."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), os.getloadavg()[0]


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
        "| what | seconds | load1 after |",
        "| --- | --- | --- |",
    ]
    for name, fn in runs.items():
        seconds, load = timed(fn, repeats)
        lines.append(f"| {name} | {seconds:.2f} | {load:.2f} |")
        print(lines[-1], flush=True)
    if with_nannyml:
        ts = pd.Timestamp(START + dt.timedelta(days=200)) + pd.to_timedelta(np.arange(rows) * 0.05, unit="s")
        frame = pd.DataFrame({"ts": ts, "score": scores, "pred": (scores >= THRESHOLD).astype(int)})
        nml = run_nannyml(holdout, frame.iloc[:0].assign(drill=[]), big=frame)
        if "big_seconds" in nml:
            lines.append(
                f"| NannyML CBPE fit + estimate (4 metrics), its venv | {nml['big_seconds']:.2f} | {os.getloadavg()[0]:.2f} |"
            )
        else:
            lines.append(f"| NannyML CBPE | failed: {nml.get('error', '')[:200]} | |")
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
    parser.add_argument("--json", type=Path, help="write every night's figures here")
    args = parser.parse_args()
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    # One OpenMP thread for the drills: on a shared 2-core machine HistGradientBoosting's spinning threads cost
    # 5-10x (measured: 114 s vs 11 s for one domain classifier at load 12). The cost table uses the default.
    with threadpool_limits(1):
        result = run_drills(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, allow_nan=False))
    print(summarize(result, args.onset))
    if args.cost:
        print(cost(args.cost_rows, args.repeats, args.nannyml))
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

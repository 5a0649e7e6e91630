"""Learning curve of the training-row budget (`train.max_rows`): what a budget costs in holdout ROC AUC, and what
it saves in fit time and memory, at a given number of rows per day.

Data: `--days` training days and one later holdout day of `--rows` simulated applications each
(tabular_mlops.data.simulate.generate_day, scenario "stable"). For each budget, a fresh interpreter draws the
budget with `train.budget_sample` (per day and label, seed 42), fits each of params.yaml's search-space candidates
(`--candidates`, default the first), and scores the whole holdout day with `scoring.score_frame`: the same code
the `train` stage runs. Reported: rows fitted, fit seconds, CPU seconds, peak RSS of the worker, holdout ROC AUC.

    .venv/bin/python benchmarks/bench_training_budget.py --rows 1000000 --days 3 \
        --budgets 25000 50000 100000 200000 400000 0 --json /tmp/budget.json      # 0 = no budget (every row)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2026, 1, 1)


def build(data_dir: Path, rows: int, days: int) -> None:
    import pandas as pd
    from tabular_mlops.data.simulate import generate_day

    train = pd.concat(
        [generate_day(START + dt.timedelta(days=i), rows, 11 + i) for i in range(days)], ignore_index=True
    )
    train.sort_values("applied_at", kind="mergesort").reset_index(drop=True).to_parquet(
        data_dir / "train.parquet"
    )
    generate_day(START + dt.timedelta(days=days), rows, 99).to_parquet(data_dir / "holdout.parquet")


def worker(data_dir: Path, budget: int, candidate: int) -> dict:
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from tabular_mlops.core.config import load_params
    from tabular_mlops.model.scoring import score_frame
    from tabular_mlops.training.train import budget_sample, fit_candidate

    params = load_params(REPO / "params.yaml")
    schema = params.schema
    train = pd.read_parquet(data_dir / "train.parquet")
    holdout = pd.read_parquet(data_dir / "holdout.parquet")
    sample = budget_sample(train, budget or None, schema, params.train.seed)
    del train
    hyper = params.train.search_space[candidate]
    wall, cpu = time.perf_counter(), time.process_time()
    model = fit_candidate(sample, schema, hyper, params.train.seed)
    fit_s, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = score_frame(model, holdout, schema)
    return {
        "budget": budget,
        "candidate": f"{candidate} {hyper['model']}",
        "rows_fitted": len(sample),
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "roc_auc": round(float(roc_auc_score(holdout[schema.target_column].astype(int), scores)), 5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per day")
    ap.add_argument("--days", type=int, default=3, help="training days (one more day is the holdout)")
    ap.add_argument("--budgets", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000, 400_000, 0])
    ap.add_argument("--candidates", type=int, nargs="+", default=[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        data_dir, budget, candidate = args.worker
        print(json.dumps(worker(Path(data_dir), int(budget), int(candidate))))
        return

    print(
        f"# {dt.datetime.now().isoformat(timespec='seconds')}  python {platform.python_version()}  "
        f"nproc {os.cpu_count()}  load {os.getloadavg()[0]:.2f}  {args.rows:,} rows/day x {args.days} days"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        build(Path(tmp), args.rows, args.days)
        for candidate in args.candidates:
            for budget in args.budgets:
                cmd = [sys.executable, __file__, "--worker", tmp, str(budget), str(candidate)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
                if proc.returncode:
                    print(f"# budget {budget}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row["load1"] = round(os.getloadavg()[0], 1)
                results.append(row)
                print(f"# {row}", flush=True)
    print(
        "\n| candidate | budget | rows fitted | fit s | fit CPU s | peak RSS MiB | load1 | holdout ROC AUC |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['candidate']} | {r['budget'] or 'none'} | {r['rows_fitted']:,} | {r['fit_s']} | {r['fit_cpu_s']} "
            f"| {r['peak_rss_mib']} | {r['load1']} | {r['roc_auc']:.4f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

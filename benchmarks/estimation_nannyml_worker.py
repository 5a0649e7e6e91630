"""NannyML's CBPE on the estimation benchmark's nights, run inside the separate benchmark venv (NannyML's pins
clash with the project's). Reads the parquet files bench_estimation.py wrote, prints one JSON object.

    .bench-venv/bin/python benchmarks/estimation_nannyml_worker.py DIR THRESHOLD

DIR/reference.parquet: ts, score, pred, y (the holdout NannyML calibrates on, as ours does);
DIR/nights.parquet: drill, ts, score, pred (one calendar day per night); DIR/big.parquet (optional): 1M rows of
one night, timed (fit on the reference + estimate)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import nannyml as nml
import pandas as pd

METRICS = {"roc_auc": "roc_auc", "average_precision": "pr_auc", "precision": "precision", "recall": "recall"}


def cbpe() -> nml.CBPE:
    return nml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        timestamp_column_name="ts",
        metrics=list(METRICS),
        chunk_period="D",
        problem_type="classification_binary",
    )


def main() -> None:
    folder, threshold = Path(sys.argv[1]), float(sys.argv[2])
    del threshold  # the decision is in column pred, made by the benchmark with the same threshold
    warnings.simplefilter("ignore")
    reference = pd.read_parquet(folder / "reference.parquet")
    nights = pd.read_parquet(folder / "nights.parquet")
    out: dict[str, object] = {"version": nml.__version__, "drills": {}}
    for drill, frame in nights.groupby("drill", sort=False):
        estimator = cbpe().fit(reference)
        table = estimator.estimate(frame.drop(columns="drill")).filter(period="analysis").to_df()
        rows = []
        for _, r in table.iterrows():
            row = {"night": str(r[("chunk", "key")])}
            for theirs, ours in METRICS.items():
                row[ours] = {
                    "value": float(r[(theirs, "value")]),
                    "sampling_error": float(r[(theirs, "sampling_error")]),
                    "lower": float(r[(theirs, "lower_confidence_boundary")]),
                    "upper": float(r[(theirs, "upper_confidence_boundary")]),
                }
            rows.append(row)
        out["drills"][drill] = rows  # type: ignore[index]
    big = folder / "big.parquet"
    if big.exists():
        night = pd.read_parquet(big)
        start = time.perf_counter()
        cbpe().fit(reference).estimate(night)
        out["big_seconds"] = time.perf_counter() - start
        out["big_rows"] = len(night)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

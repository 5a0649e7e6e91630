"""A night's Evidently reports called at different Python call depths, plain and through `with_stack_headroom`.

CPython 3.11 keeps frames in 16 KiB chunks and unmaps a chunk when the frame at its base returns
(python/cpython#142183): at unlucky entry depths the reports map and unmap a chunk on nearly every call. This runs
`summary.evidently_reports` on the drill-sized windows of the test suite (5 reference days, 3 current, 3 matured, at
1,200 rows a day) under D extra frames, for every 8th D from 0 to 152, and prints user and system CPU seconds and minor page
faults per call, plain and with headroom.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stack_headroom.py
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _at_depth(depth: int, fn: Callable[[], object]) -> object:
    return fn() if depth == 0 else _at_depth(depth - 1, fn)


def _cost(fn: Callable[[], object]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    fn()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        after.ru_minflt - before.ru_minflt,
    )


def main() -> None:
    from tabular_mlops.core.config import load_params
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.monitoring.evidently_reports import evidently_reports

    from tests.support.stack_headroom import with_stack_headroom

    params = load_params(REPO / "params.yaml")

    def window(start: dt.date, days: int) -> pd.DataFrame:
        df = pd.concat([generate_day(start + dt.timedelta(days=i), 1200, 7, "stable") for i in range(days)])
        label = df[params.schema.target_column].to_numpy(float)
        return df.reset_index(drop=True).assign(score=np.random.default_rng(0).random(len(df)), label=label)

    reference, current = window(dt.date(2026, 1, 1), 5), window(dt.date(2026, 3, 1), 3)
    matured = window(dt.date(2026, 2, 26), 3)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/bench-stack-headroom")

    def night() -> None:
        evidently_reports(
            params.schema, params.monitor, reference, current, matured, out, dt.date(2026, 3, 3)
        )

    night()  # imports and first-use caches
    print(
        "depth | plain user s | plain sys s | plain minflt | headroom user s | headroom sys s | headroom minflt"
    )
    totals = [0.0, 0.0]
    for depth in range(0, 160, 8):
        plain = _cost(lambda d=depth: _at_depth(d, night))
        roomy = _cost(lambda d=depth: _at_depth(d, lambda: with_stack_headroom(night)))
        totals[0] += plain[0] + plain[1]
        totals[1] += roomy[0] + roomy[1]
        print(
            f"{depth} | {plain[0]:.2f} | {plain[1]:.2f} | {plain[2]} | {roomy[0]:.2f} | {roomy[1]:.2f} | {roomy[2]}"
        )
    print(f"CPU s over all depths: plain {totals[0]:.1f}, with headroom {totals[1]:.1f}")


if __name__ == "__main__":
    main()

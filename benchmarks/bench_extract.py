"""Peak memory and time of `extract` and `validate` for one application day of N rows, before and after a change.

Each (code, size, stage) runs in its own fresh interpreter, importing the package from a copy of that code's
include/ (`--before <git ref>`: `git archive` of that commit; the other column is this working tree), inside a
throw-away project (params.yaml and include/expectations of that code). The source is a SQLite database with one
simulated day of N rows, written once per size and shared by both codes.

    extract   tabular_mlops.data.ingest.extract_interval for the night whose application day is that day
    validate  tabular_mlops.data.ingest.validate_extracted on what extract landed (GX checkpoint + Data Docs)

`imports MiB` is the RSS once the stage's modules are imported; `peak MiB` the process's peak RSS during the stage
(VmHWM, reset to the current RSS through /proc/self/clear_refs first); `+MiB` their difference, what the stage
itself holds. `cpu s` is the process's user + system CPU time during the stage (steadier than wall seconds on a
shared machine).

    OMP_NUM_THREADS=1 python benchmarks/bench_extract.py --rows 100000 1000000 --before 8e62288
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 1, 1)


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(stage: str, project: Path, db_url: str, landed: Path) -> None:
    """One stage in this (fresh) interpreter; prints a JSON line."""
    from tabular_mlops.core.config import load_params
    from tabular_mlops.data import ingest
    from tabular_mlops.data.batch_records import ExtractedBatch

    if stage == "validate":
        import great_expectations  # noqa: F401
        from tabular_mlops.data import validate  # noqa: F401
    params = load_params(project / "params.yaml")
    imports_kib = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    t0, c0 = time.perf_counter(), _cpu()
    if stage == "extract":
        night = DAY + dt.timedelta(days=params.schema.label_delay_days)
        out = ingest.extract_interval(
            params.schema, params.ingest, params.paths, project, db_url, night, night + dt.timedelta(days=1)
        )
        landed.write_text(json.dumps(out.to_dict()))
        rows = out.rows
    else:
        extracted = ExtractedBatch.from_dict(json.loads(landed.read_text()))
        ingest.validate_extracted(params.schema, params.validate, params.paths, project, extracted)
        rows = None
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    peak_kib = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "imports_mib": imports_kib / 1024,
                "peak_mib": peak_kib / 1024,
                "rows": rows,
            }
        )
    )


def _code(tmp: Path, label: str, ref: str | None) -> Path:
    """include/ and params.yaml of a git ref (or of this working tree) under tmp/code-<label>."""
    dest = tmp / f"code-{label}"
    dest.mkdir()
    if ref is None:
        shutil.copytree(REPO / "include", dest / "include", ignore=shutil.ignore_patterns("uncommitted"))
        shutil.copy(REPO / "params.yaml", dest / "params.yaml")
    else:
        blob = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "include", "params.yaml"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def _run(code: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code / "include")}
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _seed(code: Path, db: Path, rows: int) -> None:
    script = (
        "import sys, datetime as dt\n"
        "from tabular_mlops.core.config import load_params\n"
        "from tabular_mlops.store import source_db\n"
        "from tabular_mlops.data.simulate import generate_day\n"
        f"p = load_params({str(code / 'params.yaml')!r})\n"
        f"day = dt.date.fromisoformat({DAY.isoformat()!r})\n"
        f"source_db.write_day(source_db.connect({f'sqlite:///{db}'!r}), p.schema, day, generate_day(day, {rows}, 42))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code / "include")}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--before", help="git ref of the code to compare with (default: only this working tree)"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", choices=["extract", "validate"], help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--landed", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.project, args.db, args.landed)
        return 0
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as name:
        tmp = Path(name)
        codes = [("after", _code(tmp, "after", None))]
        if args.before:
            codes.insert(0, ("before", _code(tmp, "before", args.before)))
        for rows in args.rows:
            db = tmp / f"source-{rows}.db"
            _seed(codes[-1][1], db, rows)
            for label, code in codes:
                project = tmp / f"project-{label}-{rows}"
                project.mkdir()
                shutil.copy(code / "params.yaml", project / "params.yaml")
                shutil.copytree(code / "include" / "expectations", project / "include" / "expectations")
                landed = project / "extracted.json"
                for stage in ("extract", "validate"):
                    res = _run(
                        code,
                        "--worker",
                        stage,
                        "--project",
                        str(project),
                        "--db",
                        f"sqlite:///{db}",
                        "--landed",
                        str(landed),
                    )
                    res.update(code=label, rows_per_day=rows, stage=stage, loadavg_1m=os.getloadavg()[0])
                    results.append(res)
                    print(json.dumps(res), file=sys.stderr)
    ref = f"before = {args.before}, " if args.before else ""
    print(
        f"code: {ref}after = working tree at {head.stdout.strip()}; OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print("| rows/day | stage | code | wall s | cpu s | imports MiB | peak MiB | +MiB | load 1m |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows_per_day']:,} | {r['stage']} | {r['code']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['imports_mib']:.0f} | {r['peak_mib']:.0f} | {r['peak_mib'] - r['imports_mib']:.0f} | "
            f"{r['loadavg_1m']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

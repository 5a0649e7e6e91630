"""The same registered model version served by `mlflow models serve` and by `tabular-mlops serve`, side by side.

A throw-away project (temp dir): simulated applications, the params.yaml default candidate (histogram gradient
boosting, preprocessing inside the pipeline) fitted and logged with the training code's own `log_model`,
registered with its checksum tag and aliased champion in a SQLite MLflow store. Both servers run on 127.0.0.1
with OMP_NUM_THREADS=1 (as `make run` starts every program) and one worker; they run one after the other, so
they never compete for the cores with each other, only with the load generator.

Load: one asyncio process, raw HTTP/1.1 keep-alive connections with pre-built request bytes (a Python HTTP
client would spend more CPU per request than the servers do). Each scenario: `--warmup` seconds, then
`--seconds` measured. Single-row requests at 1 and 16 connections, then batches of `--batch` rows at 1
connection. The same application rows are cycled in the same order for both servers. Where the time goes in
our service comes from its own /metrics (model = frame + predict_proba, log = handing rows to the writer).

    python benchmarks/bench_serving.py                       # writes benchmarks/SERVING_RESULTS.md
    python benchmarks/bench_serving.py --seconds 5 --out /tmp/serving.md
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

from tabular_mlops.core.config import load_params  # noqa: E402
from tabular_mlops.core.contracts import CHAMPION, GATE_PROMOTED, Tag  # noqa: E402
from tabular_mlops.data.simulate import generate_day  # noqa: E402
from tabular_mlops.model.scoring import model_frame  # noqa: E402
from tabular_mlops.model.trusted_files import verified_copy  # noqa: E402
from tabular_mlops.store.promotion_ledger import promotion_lock  # noqa: E402
from tabular_mlops.training.features import build_pipeline  # noqa: E402
from tabular_mlops.training.train import log_model  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_model(root: Path, params) -> tuple[str, pd.DataFrame, object]:
    """Fit the default candidate on simulated days, log and register it as champion; return the version and
    the rows to send."""
    import mlflow
    from mlflow import MlflowClient

    schema = params.schema
    days = [generate_day(dt.date(2026, 1, 1) + dt.timedelta(days=i), 2000, 7) for i in range(10)]
    df = pd.concat(days, ignore_index=True)
    model = build_pipeline(schema, params.train.search_space[0], params.train.seed)
    model.fit(model_frame(df, schema), df[schema.target_column].astype(int))
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", (root / "artifacts").as_uri()))
    with mlflow.start_run():
        info = log_model(model, model_frame(df.head(200), schema), REPO)
    with verified_copy(info.model_uri) as verified:
        sha = verified.sha256
    name = params.registry.model_name
    version = str(mlflow.register_model(info.model_uri, name, tags={Tag.MODEL_SHA256: sha}).version)
    # promoted with the gate's marks (tag + ledger row in the service's monitoring database): the service serves
    # nothing else
    with promotion_lock(sa.create_engine(f"sqlite:///{root / 'monitoring.db'}"), name) as ledger:
        MlflowClient().set_registered_model_alias(name, CHAMPION, version)
        ledger.record("promote", None, version, "bench_serving", ["benchmark model"])
        MlflowClient().set_model_version_tag(name, version, Tag.GATE_DECISION, GATE_PROMOTED)
    rows = generate_day(dt.date(2026, 3, 1), 2000, 11)
    return version, rows, model


def json_rows(rows: pd.DataFrame, schema) -> list[dict]:
    out = []
    for _, row in rows.iterrows():
        body = {}
        for f in schema.features:
            v = row[f.name]
            body[f.name] = (
                None
                if pd.isna(v)
                else int(v)
                if f.type == "int"
                else float(v)
                if f.type == "float"
                else str(v)
            )
        out.append(body)
    return out


def request_bytes(path: str, payload: dict, port: int) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(
    port: int, requests: list[bytes], start: int, stop_at: float, lat: list, errors: list
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
            i += 1
    finally:
        writer.close()


def server_cpu(pid: int) -> float:
    """CPU seconds of the server's whole process tree (mlflow models serve runs uvicorn as a child)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def load(port: int, requests: list[bytes], connections: int, warmup: float, seconds: float, pid: int) -> dict:
    async def phase(duration: float) -> tuple[list, list, float]:
        lat: list[float] = []
        errors: list[int] = []
        t0 = time.perf_counter()
        stop_at = t0 + duration
        await asyncio.gather(
            *(connection(port, requests, k * 97, stop_at, lat, errors) for k in range(connections))
        )
        return lat, errors, time.perf_counter() - t0

    asyncio.run(phase(warmup))
    cpu = server_cpu(pid)
    lat, errors, elapsed = asyncio.run(phase(seconds))
    cpu = server_cpu(pid) - cpu
    ms = np.array(lat) * 1000
    return {
        "connections": connections,
        "requests": len(lat),
        "errors": len(errors),
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        # the server's own CPU per request: steadier than wall-clock figures on a shared machine
        "cpu_ms": 1000 * cpu / max(len(lat), 1),
    }


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}: see its log in the benchmark's temp folder")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"no answer on {port}{path}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def stage_totals(port: int) -> dict[str, tuple[float, float]]:
    """(seconds, count) per stage and for the whole /predict request, from the service's own histograms."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text

    def pair(name: str, label: str) -> tuple[float, float]:
        found = [
            re.search(rf"^{name}_{kind}\{{{label}\}} ([0-9.e+-]+)$", text, re.M) for kind in ("sum", "count")
        ]
        return tuple(float(m.group(1)) if m else 0.0 for m in found)  # type: ignore[return-value]

    out = {stage: pair("serving_stage_seconds", f'stage="{stage}"') for stage in ("model", "log")}
    out["request"] = pair("serving_request_seconds", 'route="/predict"')
    return out


def stage_means(before: dict, after: dict) -> dict[str, float]:
    """Mean ms per call between two snapshots (the single-row, one-connection phase)."""
    return {k: 1000 * (after[k][0] - before[k][0]) / max(after[k][1] - before[k][1], 1) for k in after}


def run(args: argparse.Namespace) -> str:
    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLOPS_MONITORING_DB_URL": f"sqlite:///{root / 'monitoring.db'}",
        "MLOPS_PROJECT_DIR": str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), os.environ.get("PYTHONPATH", "")]),
        "DO_NOT_TRACK": "1",
        # `mlflow models serve` execs `uvicorn` from PATH
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    }
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_URI",)})
    params = load_params(REPO / "params.yaml")
    serving = dataclasses.replace(params.serving, poll_seconds=3600.0)
    params_file = root / "params.yaml"
    raw = dict(params.raw)
    raw["serving"] = {
        **raw["serving"],
        "poll_seconds": serving.poll_seconds,
        "cache_dir": str(root / "cache"),
    }
    import yaml

    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    version, rows, model = register_model(root, params)
    bodies = json_rows(rows, params.schema)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one OpenMP thread, as the servers run (OMP_NUM_THREADS=1)
        breakdown = single_row_breakdown(params, model, bodies)
    name = params.registry.model_name
    results: dict[str, list[dict]] = {}
    servers = {
        "mlflow models serve": (
            [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{name}/{version}", "--env-manager", "local",
             "-h", "127.0.0.1", "-w", "1"],
            "/ping",
            lambda rows_: {"dataframe_records": rows_},
            "/invocations",
        ),
        "tabular-mlops serve": (
            [str(BIN / "tabular-mlops"), "--params", str(params_file), "serve", "--host", "127.0.0.1"],
            "/health/ready",
            lambda rows_: {"rows": rows_},
            "/predict/batch",
        ),
    }  # fmt: skip
    stages = {}
    for label, (cmd, health, batch_body, batch_path) in servers.items():
        port = free_port()
        # Output to a file, never a pipe nobody reads: a full pipe blocks the server mid-request.
        log = (root / f"{label.split()[0]}.log").open("w")
        proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(port, health, proc)
            single_path = "/invocations" if label.startswith("mlflow") else "/predict"
            singles = [
                request_bytes(
                    single_path, {"dataframe_records": [b]} if label.startswith("mlflow") else b, port
                )
                for b in bodies
            ]
            batches = [
                request_bytes(batch_path, batch_body(bodies[i : i + args.batch]), port)
                for i in range(0, len(bodies) - args.batch + 1, args.batch)
            ]
            results[label] = []
            ours = label.startswith("tabular")
            for conns in (1, 16):
                before = stage_totals(port) if ours and conns == 1 else None
                results[label].append(
                    {"kind": "1 row", **load(port, singles, conns, args.warmup, args.seconds, proc.pid)}
                )
                if before is not None:
                    stages = stage_means(before, stage_totals(port))
            batch = load(port, batches, 1, args.warmup, args.seconds, proc.pid)
            results[label].append(
                {"kind": f"batch of {args.batch}", **batch, "rows_per_s": batch["rps"] * args.batch}
            )
        finally:
            stop(proc)
    return report(args, results, stages, version, breakdown)


def _median_ms(fn, reps: int) -> float:
    """Median CPU time of this thread per call: on a shared machine, wall time of anything longer than a
    scheduler slice measures the other processes, CPU time measures the code."""
    for _ in range(min(reps, 50)):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return 1000 * float(np.median(times))


def single_row_breakdown(params, model, bodies: list[dict], reps: int = 500) -> dict[str, float]:
    """Median ms of each step of one application's answer, in this process (the same code the service runs):
    where the time goes, without HTTP. The pipeline's own steps are timed too, as the path before compiling."""
    from tabular_mlops.model.scoring import model_columns, score_frame
    from tabular_mlops.serving.candidate import probe_frame
    from tabular_mlops.serving.compiled import compile_pipeline
    from tabular_mlops.serving.schema import row_model

    schema = params.schema
    Row = row_model(schema)
    raw = json.dumps(bodies[0]).encode()
    record = Row.model_validate(json.loads(raw)).model_dump(by_alias=True)
    plain = {name: [record.get(name)] for name in schema.feature_names}
    compiled, how = compile_pipeline(model, schema, probe_frame(schema))
    if compiled is None or compiled.trees is None:
        raise SystemExit(f"the benchmark model did not compile: {how}")
    columns = model_columns(plain, schema)
    matrix = compiled.transform_columns(columns)
    frame = pd.DataFrame.from_records([record], columns=schema.feature_names)
    mframe = model_frame(frame, schema)
    pre, estimator = model.steps[0][1], model.steps[-1][1]
    assert score_frame(compiled, plain, schema)[0] == score_frame(model, frame, schema)[0]
    return {
        "json + request validation (pydantic model from params.yaml)": _median_ms(
            lambda: Row.model_validate(json.loads(raw)).model_dump(by_alias=True), reps
        ),
        "input arrays (`model_columns` on plain columns)": _median_ms(
            lambda: model_columns(plain, schema), reps
        ),
        "compiled preprocessing": _median_ms(lambda: compiled.transform_columns(columns), reps),
        "compiled trees (`serving/compiled_trees.py`, the same 200 trees walked at once)": _median_ms(
            lambda: compiled.trees.predict_proba(matrix), reps
        ),
        "before: the estimator's own `predict_proba` (HistGradientBoosting, 200 trees)": _median_ms(
            lambda: estimator.predict_proba(matrix), reps
        ),
        "served model call (`score_frame` on the compiled pipeline)": _median_ms(
            lambda: score_frame(compiled, plain, schema), reps
        ),
        "before: DataFrame.from_records + model_frame": _median_ms(
            lambda: model_frame(pd.DataFrame.from_records([record], columns=schema.feature_names), schema),
            reps,
        ),
        "before: the pipeline's ColumnTransformer.transform": _median_ms(lambda: pre.transform(mframe), reps),
        "before: `score_frame` on the pipeline (frame + predict_proba)": _median_ms(
            lambda: score_frame(model, frame, schema), reps
        ),
    }


def report(
    args: argparse.Namespace, results: dict, stages: dict, version: str, breakdown: dict | None = None
) -> str:
    load1 = os.getloadavg()[0]
    lines = [
        "# Online scoring: `tabular-mlops serve` vs `mlflow models serve`",
        "",
        f"Command: `python benchmarks/bench_serving.py --seconds {args.seconds} --warmup {args.warmup} "
        f"--batch {args.batch}`  ",
        f"Run {dt.datetime.now().isoformat(timespec='seconds')} on {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; 1-min load average at the end {load1:.2f}.  ",
        f"Model: version {version} of the default candidate (hist_gradient_boosting, preprocessing inside), "
        "the same registered version for both servers; OMP_NUM_THREADS=1, one worker each; the load generator "
        "shares the machine's cores with the server.",
        "",
        "| server | requests | connections | req/s | rows/s | p50 ms | p95 ms | p99 ms | server CPU ms/request | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rows in results.items():
        for r in rows:
            rows_s = r.get("rows_per_s", r["rps"])
            lines.append(
                f"| {label} | {r['kind']} | {r['connections']} | {r['rps']:.0f} | {rows_s:.0f} | {r['p50']:.2f} | "
                f"{r['p95']:.2f} | {r['p99']:.2f} | {r['cpu_ms']:.2f} | {r['errors']} |"
            )
    ours, theirs = results.get("tabular-mlops serve"), results.get("mlflow models serve")
    if ours and theirs:
        lines += [
            "",
            f"Single row, 1 connection: {ours[0]['rps'] / theirs[0]['rps']:.2f}x the requests per second of "
            f"`mlflow models serve`; at 16 connections {ours[1]['rps'] / theirs[1]['rps']:.2f}x.",
        ]
    if stages:
        other = stages["request"] - stages["model"] - stages["log"]
        lines += [
            "",
            "Where the time goes in `tabular-mlops serve` (mean per single-row /predict at 1 connection, from its "
            "/metrics):",
            "",
            f"- model (`score_frame`: input arrays, compiled preprocessing, compiled trees): {stages['model']:.2f} ms",
            f"- logging (rows handed to the background writer's queue): {stages['log']:.3f} ms",
            f"- the rest inside the app (request validation, JSON, queueing for the micro-batch): {other:.2f} ms",
            f"- request total as the app measures it: {stages['request']:.2f} ms (uvicorn's HTTP parsing and the "
            "client's own time are outside it: compare with the client's p50)",
        ]
    if breakdown:
        lines += [
            "",
            "One application's steps in the benchmark process (median CPU ms of 500 calls; no HTTP, same code as the "
            "service; one OpenMP thread):",
            "",
            "| step | ms |",
            "|---|---|",
            *[f"| {step} | {ms:.3f} |" for step, ms in breakdown.items()],
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "SERVING_RESULTS.md")
    args = parser.parse_args()
    text = run(args)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

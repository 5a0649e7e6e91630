"""The shadow's cost on the primary: p50/p99 of single-row POST /predict with the challenger in shadow (normal,
throwing, hanging 5 s) against the champion alone, at 1 and 16 connections, interleaved.

A throw-away project: two versions of the params.yaml default candidate fitted on simulated days, logged with
the training code's `log_model`, registered with their checksums, aliased champion and challenger in a SQLite
MLflow store. Five servers run side by side (one process each, as `tabular-mlops serve` runs: uvicorn, one
worker, OMP_NUM_THREADS=1, the same GIL switch interval and gc.freeze): strategy champion; shadow (every request,
scored in micro-batches of `deploy.shadow.batch_ms`); shadow of a quarter of the entity ids
(`deploy.shadow.fraction` 0.25); shadow whose challenger raises on every call; shadow whose challenger sleeps 5 s
per call. The faults are injected into the
loaded challenger object in the server process (this script's `serve` subcommand), since a model file that
throws or hangs would not pass the model tests. Phases are interleaved: every round visits every server at 1
and 16 connections in a shuffled order, so a burst of load on the shared machine hits all of them alike. The
1-minute load average is recorded around every phase. Load generator: bench_serving.py's raw HTTP/1.1 loop.

    python benchmarks/bench_shadow.py                      # prints the table (markdown) and writes --json
    python benchmarks/bench_shadow.py --seconds 8 --rounds 3 --json /tmp/shadow.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_serving import free_port, json_rows, load, request_bytes, stop, wait_http  # noqa: E402
from tabular_mlops.core.config import load_params  # noqa: E402
from tabular_mlops.core.contracts import CHALLENGER, CHAMPION, GATE_PROMOTED, Tag  # noqa: E402
from tabular_mlops.store.promotion_ledger import promotion_lock  # noqa: E402

MODES = ("champion", "shadow", "shadow_quarter", "shadow_throws", "shadow_hangs_5s")
# shadow_quarter: deploy.shadow.fraction 0.25 (a quarter of the entity ids, sticky), the rest as `shadow`.
QUARTER = 0.25


def register(root: Path, params) -> None:
    """Champion and challenger: the default candidate with two seeds."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from tabular_mlops.data.simulate import generate_day
    from tabular_mlops.model.scoring import model_frame
    from tabular_mlops.model.trusted_files import verified_copy
    from tabular_mlops.training.features import build_pipeline
    from tabular_mlops.training.train import log_model

    schema, name = params.schema, params.registry.model_name
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", (root / "artifacts").as_uri()))
    for alias, seed in ((CHAMPION, 7), (CHALLENGER, 8)):
        df = pd.concat(
            [generate_day(dt.date(2026, 1, 1) + dt.timedelta(days=i), 2000, seed) for i in range(5)]
        )
        model = build_pipeline(schema, params.train.search_space[0], seed)
        model.fit(model_frame(df, schema), df[schema.target_column].astype(int))
        with mlflow.start_run():
            info = log_model(model, model_frame(df.head(200), schema), REPO)
        with verified_copy(info.model_uri) as verified:
            sha = verified.sha256
        version = mlflow.register_model(info.model_uri, name, tags={Tag.MODEL_SHA256: sha}).version
        MlflowClient().set_registered_model_alias(name, alias, str(version))
        if alias == CHAMPION:
            # the gate's marks (tag + a ledger row in every server's own monitoring database): the service serves
            # no champion the gate did not promote
            MlflowClient().set_model_version_tag(name, str(version), Tag.GATE_DECISION, GATE_PROMOTED)
            for mode in MODES:
                with promotion_lock(sa.create_engine(f"sqlite:///{root / f'{mode}.db'}"), name) as ledger:
                    ledger.record("promote", None, str(version), "bench_shadow", ["benchmark champion"])


class _Throws:
    def predict_proba(self, frame):
        raise RuntimeError("shadow model raised")


class _Hangs:
    def __init__(self, model) -> None:
        self.model = model

    def predict_proba(self, frame):
        time.sleep(5.0)
        return self.model.predict_proba(frame)


def serve(args: argparse.Namespace) -> None:
    """One server: what `tabular-mlops serve` does, with the strategy and the fault of `--mode`."""
    import gc

    import uvicorn
    from tabular_mlops.serving.app import create_app
    from tabular_mlops.serving.server import GIL_SWITCH_SECONDS, build_service

    root = Path(args.root)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    service = build_service(load_params(root / "params.yaml"), root)
    slot = service.deployment.challenger
    if slot.served is None:
        raise SystemExit(f"no challenger: {slot.last_reason}")
    if args.mode == "shadow_quarter":
        deploy = service.deployment.deploy
        shadow = dataclasses.replace(deploy.shadow, fraction=QUARTER)
        service.deployment.deploy = dataclasses.replace(deploy, shadow=shadow)
    if args.mode != "champion":
        service.deployment.switch("shadow", "bench_shadow", args.mode)
    if args.mode == "shadow_throws":
        slot.served = dataclasses.replace(slot.served, scorer=_Throws())
    elif args.mode == "shadow_hangs_5s":
        slot.served = dataclasses.replace(slot.served, scorer=_Hangs(slot.served.loaded.model))
    gc.freeze()
    uvicorn.run(create_app(service), host="127.0.0.1", port=args.port, access_log=False, log_level="error")


def run(args: argparse.Namespace) -> dict:
    import yaml

    root = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLOPS_PROJECT_DIR": str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "include"), os.environ.get("PYTHONPATH", "")]),
        "DO_NOT_TRACK": "1",
    }
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    params = load_params(REPO / "params.yaml")
    raw = dict(params.raw)
    raw["serving"] = {**raw["serving"], "poll_seconds": 3600, "cache_dir": str(root / "cache")}
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    register(root, params)
    from tabular_mlops.data.simulate import generate_day

    rows = generate_day(dt.date(2026, 3, 1), 2000, 11)
    ids = rows[params.schema.id_column].astype(str).tolist()
    bodies = [
        {params.schema.id_column: i, **b} for i, b in zip(ids, json_rows(rows, params.schema), strict=True)
    ]
    servers = {}
    try:
        for mode in MODES:
            port = free_port()
            log = (root / f"{mode}.log").open("w")
            cmd = [
                sys.executable,
                __file__,
                "serve",
                "--mode",
                mode,
                "--port",
                str(port),
                "--root",
                str(root),
            ]
            own = {**env, "MLOPS_MONITORING_DB_URL": f"sqlite:///{root / f'{mode}.db'}"}  # a log per server
            servers[mode] = (port, subprocess.Popen(cmd, env=own, stdout=log, stderr=subprocess.STDOUT))
        for port, proc in servers.values():
            wait_http(port, "/health/ready", proc)
        phases = []
        rng = random.Random(0)
        for round_ in range(args.rounds):
            order = [(m, c) for m in MODES for c in (1, 16)]
            rng.shuffle(order)
            for mode, conns in order:
                port, proc = servers[mode]
                requests = [request_bytes("/predict", b, port) for b in bodies]
                before = os.getloadavg()[0]
                result = load(port, requests, conns, args.warmup, args.seconds, proc.pid)
                phases.append({"round": round_, "mode": mode, **result, "load_before": before,
                               "load_after": os.getloadavg()[0]})  # fmt: skip
                print(json.dumps(phases[-1]), file=sys.stderr)
    finally:
        for _, proc in servers.values():
            stop(proc)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "phases": phases,
    }


def table(result: dict) -> str:
    """Per mode and connections: the median over rounds of each figure; p99 relative to the champion alone."""
    phases = result["phases"]
    base = {c: np.median([p["p99"] for p in phases if p["mode"] == "champion" and p["connections"] == c])
            for c in (1, 16)}  # fmt: skip
    lines = [
        "| mode | conns | req/s | p50 ms | p99 ms | p99 vs champion | server cpu ms/req | errors | load avg (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode in MODES:
        for conns in (1, 16):
            mine = [p for p in phases if p["mode"] == mode and p["connections"] == conns]
            med = {k: float(np.median([p[k] for p in mine])) for k in ("rps", "p50", "p99", "cpu_ms")}
            loads = [p["load_before"] for p in mine] + [p["load_after"] for p in mine]
            lines.append(
                f"| {mode} | {conns} | {med['rps']:.0f} | {med['p50']:.2f} | {med['p99']:.2f} | "
                f"{med['p99'] / base[conns]:.2f}x | {med['cpu_ms']:.2f} | {sum(p['errors'] for p in mine)} | "
                f"{min(loads):.1f}-{max(loads):.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve")
    srv.add_argument("--mode", choices=MODES, required=True)
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--root", required=True)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "bench-shadow.json")
    parser.add_argument("--from-json", type=Path, help="print the table of an earlier run")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
        return
    result = json.loads(args.from_json.read_text()) if args.from_json else run(args)
    if not args.from_json:
        args.json.write_text(json.dumps(result, indent=2))
    print(
        f"{result['date']}, {result['machine']}; {result['rounds']} rounds x {result['seconds']} s per phase"
    )
    print(table(result))


if __name__ == "__main__":
    main()

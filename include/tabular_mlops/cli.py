"""`tabular-mlops` command line: simulate production data, inject scenarios, inspect and roll back the registry,
serve the champion online."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from tabular_mlops.core.config import ConfigError, load_params, project_dir
from tabular_mlops.core.contracts import MONITORING_CONN_ID, SOURCE_CONN_ID
from tabular_mlops.data.simulate import SCENARIOS

# The embedded default of the monitoring database (the stack's AIRFLOW_CONN_MONITORING_DB points at the same file).
DEFAULT_MONITORING_DB = "var/monitoring.db"


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_simulate(args: argparse.Namespace) -> int:
    from tabular_mlops.data.simulate import check_example_schema, generate_day, scenario_for
    from tabular_mlops.store import source_db

    params = load_params(args.params or project_dir() / "params.yaml")
    sim = params.simulate
    check_example_schema(params.schema)
    start = args.start or _date(sim.history_start)
    days = args.days if args.days is not None else sim.history_days
    rows = args.rows if args.rows is not None else sim.rows_per_day
    scenario = args.scenario or sim.scenario
    scenario_start = args.scenario_start or (_date(sim.scenario_start) if sim.scenario_start else None)
    seed = args.seed if args.seed is not None else sim.seed
    source_db.ensure_sqlite_folder(args.db_url)  # the simulator creates the source database, folder included
    engine = source_db.connect(args.db_url, conn_id=args.conn_id)
    total = 0
    for i in range(days):
        day = start + dt.timedelta(days=i)
        batch = generate_day(day, rows, seed, scenario_for(day, scenario, scenario_start))
        total += source_db.write_day(engine, params.schema, day, batch)
    print(
        json.dumps(
            {
                "table": params.schema.table,
                "days": days,
                "rows": total,
                "scenario": scenario,
                "scenario_start": str(scenario_start) if scenario_start else None,
                "first_day": str(start),
                "last_day": str(start + dt.timedelta(days=days - 1)),
            }
        )
    )
    return 0


def _ledger_url(args: argparse.Namespace) -> str:
    return args.db_url or f"sqlite:///{project_dir() / DEFAULT_MONITORING_DB}"


def cmd_rollback(args: argparse.Namespace) -> int:
    import getpass
    import socket

    from tabular_mlops.model.tracking import configure_tracking
    from tabular_mlops.store import source_db
    from tabular_mlops.training.registry import rollback

    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    configure_tracking(params, root)
    ledger = source_db.connect(_ledger_url(args), conn_id=MONITORING_CONN_ID)
    actor = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    print(json.dumps(rollback(params.registry.model_name, ledger, actor, reason=args.reason).to_dict()))
    return 0


def cmd_promotions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tabular_mlops.store import source_db
    from tabular_mlops.store.promotion_ledger import history

    params = load_params(args.params or project_dir() / "params.yaml")
    engine = source_db.connect(_ledger_url(args), conn_id=MONITORING_CONN_ID)
    entries = history(engine, params.registry.model_name)[-args.last :]
    print(json.dumps([asdict(e) for e in entries], indent=2))
    return 0


def cmd_champion(args: argparse.Namespace) -> int:
    from tabular_mlops.model.tracking import configure_tracking
    from tabular_mlops.training.registry import describe_champion

    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    configure_tracking(params, root)
    print(json.dumps(describe_champion(params.registry.model_name).to_dict(), indent=2))
    return 0


def cmd_why(args: argparse.Namespace) -> int:
    from pathlib import Path

    import sqlalchemy as sa

    from tabular_mlops.model.tracking import configure_tracking
    from tabular_mlops.monitoring import decisions_log
    from tabular_mlops.monitoring.audit import explain_nights
    from tabular_mlops.store import source_db

    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    # Read-only: check the database and its table before anything could create them.
    url = sa.make_url(args.db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        print(f"error: monitoring database {url.database} does not exist", file=sys.stderr)
        return 1
    engine = source_db.connect(args.db_url, conn_id=MONITORING_CONN_ID)
    if not sa.inspect(engine).has_table(decisions_log.TABLE):
        print(f"error: no table '{decisions_log.TABLE}' in {url.render_as_string()}", file=sys.stderr)
        return 1
    configure_tracking(params, root)
    records = explain_nights(engine, params.registry, night=args.night, last=args.last)
    if args.night and not records:
        print(f"error: no monitoring decision recorded for night {args.night}", file=sys.stderr)
        return 1
    print(json.dumps([r.to_dict() for r in records], indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tabular_mlops.serving.server import serve

    root = project_dir()
    serve(load_params(args.params or root / "params.yaml"), root, host=args.host, port=args.port)
    return 0


def cmd_traffic(args: argparse.Namespace) -> int:
    """Replay the example simulator's rows against the service; exit 1 when no request got a 200."""
    from tabular_mlops.serving.reload_client import service_url
    from tabular_mlops.stack.traffic import TrafficPlan, run_traffic, simulated_rows

    params = load_params(args.params or project_dir() / "params.yaml")
    schema = params.schema
    plan = TrafficPlan(args.url or service_url(params.serving), args.rate, args.concurrency, args.requests,
                       args.resubmit_share, args.timeout, args.seed)  # fmt: skip
    bodies = simulated_rows(args.day, min(args.requests, 50_000), args.seed, id_column=schema.id_column,
                                    feature_columns=schema.feature_names, scenario=args.scenario)  # fmt: skip
    summary = run_traffic(plan, bodies, id_column=schema.id_column)
    print(json.dumps(summary.to_dict(), indent=2))
    return 0 if summary.statuses.get("200") else 1


def cmd_init(args: argparse.Namespace) -> int:
    """Profile a table and write a starting params file: a new one (--out) or an existing one (--write)."""
    import os
    import tempfile
    from pathlib import Path

    from tabular_mlops.data import proposal_params, table_proposal
    from tabular_mlops.store import source_db

    target = Path(args.out or args.write)
    if args.out and target.exists():
        print(f"error: {target} exists: pass --write {target} to replace its schema section", file=sys.stderr)
        return 2
    if args.write and not target.is_file():
        print(f"error: {target} does not exist: --out {target} writes a new params file", file=sys.stderr)
        return 2
    base = target if args.write else Path(args.params or project_dir() / "params.yaml")
    options = table_proposal.ProfileOptions(
        table=args.table,
        id_column=args.id_column,
        time_column=args.time_column,
        target=args.target,
        positive_label=args.positive_label,
        exclude=tuple(args.exclude or ()),
        label_delay_days=args.label_delay_days,
        max_codes=args.max_codes,
        max_categories=args.max_categories,
        margin=args.margin,
        sample_rows=args.sample_rows,
    )
    try:
        proposal = table_proposal.propose(
            table_proposal.read_table(source_db.connect(args.source_url), options), options
        )
        text = proposal_params.params_text(base.read_text(), proposal)
    except table_proposal.ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Checked as the pipeline will read it, then moved into place: a proposal that does not load is not written.
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        load_params(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    summary = {
        "written": str(target),
        "table": args.table,
        "rows_profiled": proposal.rows,
        "base_rate": proposal.base_rate,
        "features": list(proposal.schema["features"]),
        "left_out": proposal.left_out,
        "next": [
            f"review {target} (schema, label_delay_days, dags, gate, monitor.key_features)",
            f"python -m tabular_mlops.data.validate --params {target}",
        ],
    }
    print(json.dumps(summary, indent=2))
    return 0


def cmd_airflow_env(args: argparse.Namespace) -> int:
    """Print the environment that runs any DAG headless: `eval "$(tabular-mlops airflow-env)"`."""
    from tabular_mlops.stack.layout import Layout, export_lines

    layout = Layout.from_env(project_dir())
    # MLflow: the embedded store under paths.mlflow_dir, whatever the calling shell had exported.
    print("\n".join(["unset MLFLOW_TRACKING_URI", *export_lines(layout.headless_env(args.source_url))]))
    return 0


def cmd_airflow_setup(args: argparse.Namespace) -> int:
    """`airflow db migrate` + the DVC pool in the headless environment's metadata DB (idempotent)."""
    from tabular_mlops.core.contracts import DVC_POOL
    from tabular_mlops.stack import commands
    from tabular_mlops.stack.layout import Layout

    layout = Layout.from_env(project_dir())
    commands.prepare_airflow_db(layout)
    print(json.dumps({"airflow_db": str(layout.airflow_db), "pool": DVC_POOL}))
    return 0


def cmd_check_secrets(args: argparse.Namespace) -> int:
    """Refuse empty, default or weak secrets (scale-out start-up); one line per problem, values never printed."""
    from tabular_mlops.core.secret_rules import problems

    found = problems(args.names)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if not found:
        print(f"{len(args.names)} secret(s) set and not defaults")
    return 2 if found else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabular-mlops", description=__doc__)
    parser.add_argument("--params", default=None, help="params.yaml (default: <project>/params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write seeded daily batches into the source database")
    sim.add_argument("--db-url", required=True, help="SQLAlchemy URL of the source database")
    sim.add_argument("--conn-id", default=SOURCE_CONN_ID, help="name used in error messages")
    sim.add_argument("--start", type=_date, help="first day (default simulate.history_start)")
    sim.add_argument("--days", type=int, help="number of days (default simulate.history_days)")
    sim.add_argument(
        "--rows", type=int, help="rows per day, 100 to 1,000,000 (default simulate.rows_per_day)"
    )
    sim.add_argument("--seed", type=int)
    sim.add_argument("--scenario", choices=SCENARIOS)
    sim.add_argument("--scenario-start", type=_date, help="the scenario applies from this day on")
    sim.set_defaults(func=cmd_simulate)

    rb = sub.add_parser("rollback", help="move alias champion back to the previous champion")
    rb.add_argument("--reason", default="manual rollback")
    rb.add_argument(
        "--db-url", help=f"database of the promotion lock and ledger (default {DEFAULT_MONITORING_DB})"
    )
    rb.set_defaults(func=cmd_rollback)

    pr = sub.add_parser(
        "promotions", help="the promotion ledger: every promotion and rollback, who, when, why"
    )
    pr.add_argument("--db-url", help=f"database of the promotion ledger (default {DEFAULT_MONITORING_DB})")
    pr.add_argument("--last", type=_positive, default=20, help="how many recent entries (default 20)")
    pr.set_defaults(func=cmd_promotions)

    ch = sub.add_parser("champion", help="print the champion version, its metrics and gate results")
    ch.set_defaults(func=cmd_champion)

    why = sub.add_parser(
        "why", help="a night's retrain/keep decision, its reasons, and the gate outcome of what it triggered"
    )
    why.add_argument("--db-url", required=True, help="SQLAlchemy URL of the monitoring database")
    why.add_argument("--night", type=_date, help="one night (default: the last --last nights)")
    why.add_argument("--last", type=_positive, default=7, help="how many recent nights (default 7)")
    why.set_defaults(func=cmd_why)

    ini = sub.add_parser(
        "init", help="profile a table (SQLAlchemy URL) and write a starting schema into a params file"
    )
    ini.add_argument("--source-url", required=True, help="SQLAlchemy URL of the source database")
    ini.add_argument("--table", required=True)
    ini.add_argument("--id-column", help="unique row id (default: the one unique *_id / id column)")
    ini.add_argument("--time-column", help="when a row happened (default: the one date/time column)")
    ini.add_argument(
        "--target", help="the label column (default: a column named target/label/y/class/outcome)"
    )
    ini.add_argument("--positive-label", help="the target value that means 1 (default: 1 / yes / true / y)")
    ini.add_argument("--exclude", action="append", metavar="COLUMN", help="leave a column out (repeatable)")
    ini.add_argument(
        "--label-delay-days", type=int, default=0, help="days until a label is known (default 0)"
    )
    ini.add_argument(
        "--max-codes", type=_positive, default=30, help="integer codes: at most this many values"
    )
    ini.add_argument(
        "--max-categories", type=_positive, default=50, help="text categories: at most this many"
    )
    ini.add_argument(
        "--margin", type=float, default=0.25, help="widen ranges by this share of the span (default 0.25)"
    )
    ini.add_argument(
        "--sample-rows", type=_positive, default=200_000, help="rows to profile (default 200000)"
    )
    where = ini.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="a new params file: the project's params.yaml with the proposed schema")
    where.add_argument("--write", help="an existing params file: replace its schema section, keep the rest")
    ini.set_defaults(func=cmd_init)

    env = sub.add_parser(
        "airflow-env",
        help="print the environment (export lines) to run any DAG without make run: airflow dags test <dag> <date>",
    )
    env.add_argument("--source-url", help="the source database (SQLAlchemy URL; default var/source_db.db)")
    env.set_defaults(func=cmd_airflow_env)
    setup = sub.add_parser(
        "airflow-setup", help="migrate the headless Airflow metadata DB and create the dvc_repo pool"
    )
    setup.set_defaults(func=cmd_airflow_setup)

    chk = sub.add_parser(
        "check-secrets",
        help="exit 2 when a named secret (environment variable) is empty, a known default or too weak",
    )
    chk.add_argument("names", nargs="+", help="environment variables holding secrets")
    chk.set_defaults(func=cmd_check_secrets)

    sv = sub.add_parser(
        "serve", help="the online scoring service (FastAPI on uvicorn), following the champion"
    )
    sv.add_argument("--host", help="bind address (default serving.host)")
    sv.add_argument("--port", type=_positive, help="port (default $MLOPS_SERVING_PORT, else serving.port)")
    sv.set_defaults(func=cmd_serve)

    tr = sub.add_parser(
        "traffic", help="replay the example simulator's rows against the service's POST /predict"
    )
    tr.add_argument("--url", help="the service (default $MLOPS_SERVING_URL, else serving.host and port)")
    tr.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    tr.add_argument("--concurrency", type=_positive, default=4, help="requests in flight at most (default 4)")
    tr.add_argument("--requests", type=_positive, default=1000, help="how many requests (default 1000)")
    tr.add_argument("--resubmit-share", type=float, default=0.1, help="share re-sending an earlier id (0.1)")
    tr.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    tr.add_argument("--day", type=_date, default=dt.date(2026, 6, 1), help="the simulated day to replay")
    tr.add_argument("--scenario", choices=SCENARIOS, default="stable", help="the simulator's scenario")
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(func=cmd_traffic)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, LookupError, RuntimeError, FileNotFoundError) as exc:
        # Expected failures (unreachable database, no champion yet, refused model, ...) carry their own message.
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

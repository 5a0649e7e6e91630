"""Validate a batch with a Great Expectations 1.x checkpoint (which also builds Data Docs), then either
publish the snapshots to the DVC-tracked raw folder or move them to quarantine with the validation result."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import PathsConfig, SchemaConfig, ValidateConfig
from tabular_mlops.core.contracts import gx_sidecar
from tabular_mlops.data.docs_index import record_validation
from tabular_mlops.data.expectations import expectation_specs, suite_name


class ValidationFailedError(RuntimeError):
    """The batch broke expectations; the message names each failed expectation, its column and observed value
    (one per line, last, so they close the task log)."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__("\n".join([message, *(f"  - {f}" for f in failures)]))
        self.failures = failures


@dataclass(frozen=True)
class ValidationOutcome:
    success: bool
    failures: list[str]
    result: dict[str, Any]
    data_docs: str | None
    validation_page: str | None = None
    """The file:// URL of the Data Docs page this run wrote (GX names it by suite, run name, time and batch)."""

    def message(self) -> str:
        return "; ".join(self.failures)


def gx_context(expectations_dir: Path) -> Any:  # a GX FileDataContext
    """The GX project in `expectations_dir` (`<project>/<paths.expectations_dir>`)."""
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=str(expectations_dir))


def _expected_suite(schema: SchemaConfig, rules: ValidateConfig) -> Any:  # a GX ExpectationSuite
    import great_expectations as gx

    specs = expectation_specs(schema, rules)
    return gx.ExpectationSuite(
        name=suite_name(schema),
        expectations=[getattr(gx.expectations, kind)(**kwargs) for kind, kwargs in specs],
    )


def _rules(suite: Any) -> list[tuple[str, str]]:
    import json

    return sorted(
        (e["type"], json.dumps(e["kwargs"], sort_keys=True, default=str))
        for e in suite.to_json_dict()["expectations"]
    )


def _stored_checkpoint(schema: SchemaConfig, rules: ValidateConfig, context: Any) -> Any:
    """The checkpoint stored in the repo, if its suite still says what the schema config says."""
    name = suite_name(schema)
    try:
        checkpoint = context.checkpoints.get(f"{name}_checkpoint")
        stored_suite = context.suites.get(name)
    except Exception:  # noqa: BLE001 - GX raises several "not found" types
        return None
    return checkpoint if _rules(stored_suite) == _rules(_expected_suite(schema, rules)) else None


def _checkpoint(schema: SchemaConfig, rules: ValidateConfig, context: Any) -> Any:  # a GX Checkpoint
    """Reuse the stored checkpoint; regenerate suite + checkpoint only when the schema config changed."""
    import great_expectations as gx

    stored = _stored_checkpoint(schema, rules, context)
    if stored is not None:
        return stored
    name = suite_name(schema)
    source = context.data_sources.add_or_update_pandas(name="snapshots")
    asset = source.add_dataframe_asset(name=schema.table)
    batch_def = asset.add_batch_definition_whole_dataframe("whole_batch")
    suite = context.suites.add_or_update(_expected_suite(schema, rules))
    vdef = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch_def, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{name}_checkpoint",
            validation_definitions=[vdef],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )


def _describe_failure(res: dict[str, Any]) -> str:
    cfg = res["expectation_config"]
    kwargs = cfg.get("kwargs", {})
    where = f" on column '{kwargs['column']}'" if "column" in kwargs else ""
    detail = res.get("result", {}) or {}
    bits = []
    if "unexpected_percent" in detail and detail["unexpected_percent"] is not None:
        bits.append(f"{detail['unexpected_percent']:.1f}% unexpected")
    examples = [v for v in detail.get("partial_unexpected_list") or [] if v is not None]
    if examples:  # a list of missing values says nothing the percentage does not
        bits.append(f"e.g. {examples[:3]}")
    if "observed_value" in detail:
        bits.append(f"observed {detail['observed_value']}")
    if res.get("exception_info", {}).get("raised_exception"):
        bits.append(str(res["exception_info"].get("exception_message", ""))[:120])
    return f"{cfg['type']}{where}" + (f" ({', '.join(bits)})" if bits else "")


# Held while a process reads or writes the GX project (checkpoint, validation results, Data Docs index): GX's file
# stores write in place, so two nights validating at once (a backfill with several active runs) could read each
# other's half-written validation result while rebuilding the Data Docs index.
GX_LOCK_FILE = "uncommitted/.gx-project.lock"
GX_LOCK_TIMEOUT_S = 600


def gx_lock(expectations_dir: Path) -> Any:  # a filelock.FileLock
    from filelock import FileLock

    path = expectations_dir / "gx" / GX_LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=GX_LOCK_TIMEOUT_S)


def validate_batch(
    df: pd.DataFrame,
    schema: SchemaConfig,
    rules: ValidateConfig,
    expectations_dir: Path,
    run_name: str | None = None,
) -> ValidationOutcome:
    """Run the checkpoint on a DataFrame and summarise it (one process at a time per GX project); `run_name`
    names the run in Data Docs."""
    import great_expectations  # noqa: F401 - the slow import happens before the lock, not while holding it
    from great_expectations.core.run_identifier import RunIdentifier

    with gx_lock(expectations_dir):
        context = gx_context(expectations_dir)
        run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)) if run_name else None
        result = _checkpoint(schema, rules, context).run(batch_parameters={"dataframe": df}, run_id=run_id)
        docs = context.get_docs_sites_urls()
        # The page UpdateDataDocsAction wrote for this run: GX keys it by the run's validation result id.
        pages = [
            site["site_url"]
            for key in result.run_results
            for site in context.get_docs_sites_urls(resource_identifier=key)
            if site.get("site_url")
        ]
    described = result.describe_dict()
    failures = []
    for run_result in result.run_results.values():
        for res in run_result.to_json_dict()["results"]:
            if not res["success"]:
                failures.append(_describe_failure(res))
    return ValidationOutcome(
        success=bool(result.success),
        failures=failures,
        result=described,
        data_docs=docs[0]["site_url"] if docs else None,
        validation_page=pages[0] if pages else None,
    )


def outcome_summary(outcome: ValidationOutcome, schema: SchemaConfig) -> dict[str, Any]:
    """What a published snapshot keeps of its validation. Nothing about the run (no batch id, run id or time):
    the same day validated in a differently split backfill gives the same bytes, so the same data version."""
    stats = outcome.result.get("validation_results", [{}])[0].get("statistics", {})
    return {
        "suite": suite_name(schema),
        "success": outcome.success,
        "evaluated_expectations": stats.get("evaluated_expectations"),
        "successful_expectations": stats.get("successful_expectations"),
        "failures": outcome.failures,
    }


def read_snapshots(paths: list[Path]) -> pd.DataFrame:
    """The snapshots as one DataFrame, held once: the files are read into Arrow, joined without copying and
    converted once (not a frame per file plus their concat). Consolidated blocks on purpose: GX on a frame of
    one block per column (`split_blocks`) took 1.8x the CPU and a higher peak (benchmarks/RESULTS.md)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not paths:
        return pd.DataFrame()
    # "default" promotion: an empty day written before types were fixed has null-typed text columns.
    table = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default")
    return table.to_pandas()


def validate_landed(
    snapshots: list[Path],
    schema: SchemaConfig,
    rules: ValidateConfig,
    paths: PathsConfig,
    root: Path,
    batch_id: str,
) -> ValidationOutcome:
    """Validate the landed snapshots as one batch. Pass: write each one's GX summary beside it (they stay staged
    until the `version` task publishes them). Fail: move them to quarantine/<batch_id>/ with the validation result,
    then raise ValidationFailedError. A published snapshot of the same day is never touched here: a failed or
    empty re-run of a night cannot remove what an earlier run validated."""
    expectations_dir = root / paths.expectations_dir
    outcome = validate_batch(read_snapshots(snapshots), schema, rules, expectations_dir, run_name=batch_id)
    # The offline index is rebuilt from every batch's record: one writer at a time, as for GX's own stores.
    with gx_lock(expectations_dir):
        record_validation(
            expectations_dir,
            batch_id,
            schema.table,
            suite_name(schema),
            outcome.success,
            outcome.failures,
            outcome_summary(outcome, schema),
            outcome.validation_page,
        )
    if outcome.success:
        summary = outcome_summary(outcome, schema)
        for path in snapshots:
            # The summary is deterministic (no run ids or times), so re-running an interval changes no bytes.
            atomic_write_json(gx_sidecar(path), summary)
        return outcome
    quarantine = root / paths.quarantine_dir / batch_id
    if quarantine.exists():
        shutil.rmtree(quarantine)
    quarantine.mkdir(parents=True)
    for path in snapshots:
        path.replace(quarantine / path.name)
        gx_sidecar(path).unlink(missing_ok=True)
    atomic_write_json(quarantine / "validation_result.json", outcome.result)
    published = [p.name for p in snapshots if (root / paths.raw_dir / p.name).exists()]
    kept = f"; the published snapshot(s) {published} are kept" if published else ""
    raise ValidationFailedError(
        f"batch {batch_id} failed {len(outcome.failures)} expectation(s) of suite "
        f"'{suite_name(schema)}' and was quarantined in {quarantine}{kept}:",
        outcome.failures,
    )


def _prune_other_tables(gx_dir: Path, keep: str) -> list[str]:
    """Remove the suite, validation definition and checkpoint files another table's schema generated (the
    example's, after `init` pointed params.yaml at yours), so no other table's names stay in the GX project.
    Only files named as this module names them (`<table>_batch...`); returns their names."""
    removed = []
    for folder, suffix in (
        ("checkpoints", "_checkpoint"),
        ("validation_definitions", "_validation"),
        ("expectations", ""),
    ):
        for path in sorted((gx_dir / folder).glob(f"*_batch{suffix}.json")):
            if path.stem != f"{keep}{suffix}":
                path.unlink()
                removed.append(path.stem)
    return removed


def write_suite(schema: SchemaConfig, rules: ValidateConfig, expectations_dir: Path) -> Path:
    """Generate the suite, validation definition and checkpoint from the schema into the repo's GX folder, and
    remove those of any other table."""
    _checkpoint(schema, rules, gx_context(expectations_dir))
    for name in _prune_other_tables(expectations_dir / "gx", suite_name(schema)):
        print(f"removed {name} (another table's, not params.yaml schema.table {schema.table})")
    return expectations_dir / "gx" / "expectations" / f"{suite_name(schema)}.json"


def main(argv: list[str] | None = None) -> None:
    import argparse

    from tabular_mlops.core.config import load_params, project_dir

    parser = argparse.ArgumentParser(description="(Re)generate the Great Expectations suite from params.yaml")
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    root = project_dir()
    params = load_params(args.params or root / "params.yaml")
    print(write_suite(params.schema, params.validate, root / params.paths.expectations_dir))


if __name__ == "__main__":
    main()

"""A Markdown model card per registered version: data, assumptions, metrics against thresholds, gate outcome."""

from __future__ import annotations

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import DATA_DVC_FILE, Tag
from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.training.features import ESTIMATOR_DESCRIPTIONS
from tabular_mlops.training.gate import threshold_rules


def render_model_card(
    params: Params,
    version: str,
    info: dict,
    metrics: dict[str, float],
    lineage: dict[str, str],
    gates: list[GateResult],
    promoted: bool,
) -> str:
    w = info["window"]
    limits = {name: f"{op} {limit}" for name, op, limit in threshold_rules(params.gate)}
    metric_rows = "\n".join(f"| {k} | {v:.4f} | {limits.get(k, '')} |" for k, v in sorted(metrics.items()))
    gate_rows = "\n".join(f"| {r.name} | {'pass' if r.passed else 'FAIL'} | {r.reason} |" for r in gates)
    s, words = params.schema, params.wording
    rate = words.rate_text(s.target_column)
    output = words.score_text(s.target_column) + (f" (`{s.target_column}` = 1)" if words.score else "")
    threshold = lineage.get(Tag.DECISION_THRESHOLD) or info.get(Tag.DECISION_THRESHOLD, "not recorded")
    best = info["best_hyperparams"]
    metric = params.train.selection_metric
    candidate_rows = "\n".join(
        f"| {c['index']} | {c['model']} | {c.get(f'val_{metric}', float('nan')):.4f} | "
        f"{ {k: v for k, v in c.items() if k not in ('index', 'model', f'val_{metric}')} } |"
        for c in info.get("candidates", [])
    )
    return f"""# Model card: {params.registry.model_name} v{version}

**Decision:** {"promoted to `champion`" if promoted else "not promoted (stays `challenger`)"}

## Data
- Window: {words.rows} {w["window_start"]} .. {w["window_end"]} ({w["snapshots"]} daily snapshots);
  holdout from {w["holdout_start"]} (time-based)
- Rows: {w["train_rows"]} train, {w["holdout_rows"]} holdout; {rate} {w["train_default_rate"]:.2%} train,
  {w["holdout_default_rate"]:.2%} holdout
- DVC data hash (`{DATA_DVC_FILE}`): `{lineage.get(Tag.DVC_DATA_HASH)}`; git commit `{lineage.get(Tag.GIT_COMMIT)}`
- Airflow: dag `{lineage.get(Tag.AIRFLOW_DAG_ID)}`, run `{lineage.get(Tag.AIRFLOW_RUN_ID)}`; MLflow run `{info["run_id"]}`

## Model
- {ESTIMATOR_DESCRIPTIONS[best["model"]]} with the preprocessing (median imputation + missing indicators,
  one-hot categories) fitted inside the model; best candidate #{info["best_candidate"]} `{best}`
- Inputs: {", ".join(s.feature_names)}; output: {output}

Candidates searched (validation split, `{metric}`):

| # | estimator | val {metric} | hyperparameters |
|---|---|---|---|
{candidate_rows}

## Metrics on the holdout
| metric | value | threshold |
|---|---|---|
{metric_rows}

## Gate
| check | result | reason |
|---|---|---|
{gate_rows}

## Assumptions and limits
- Labels mature {s.label_delay_days} days after the {words.row}; the newest {s.label_delay_days} days are never
  in training.
- Trained only on batches that passed the Great Expectations suite; inputs outside the validated ranges and
  categories are out of scope (unseen categories are ignored by the encoder, missing numerics imputed).
- Decision threshold {threshold} (`evaluate.decision_threshold`: {params.evaluate.decision_threshold.describe()})
  for precision / recall / F1 and for the decisions of batch scoring and serving.

## Retrain triggers
- Nightly schedule with new matured data; drift of key features or score drift beyond the thresholds in
  `params.yaml`; matured-label performance below the gate thresholds above.
"""

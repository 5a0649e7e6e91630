"""A Markdown model card per registered version: data, assumptions, metrics against thresholds, gate outcome."""

from __future__ import annotations

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import DATA_DVC_FILE, Tag
from tabular_mlops.model.model_tests import GateResult
from tabular_mlops.stats.importance import ImportanceSettings
from tabular_mlops.training.features import ESTIMATOR_DESCRIPTIONS
from tabular_mlops.training.gate import threshold_rules


def _window_notes(window: dict) -> str:
    """The gap the window starts after and the newer snapshots it leaves out, as extra card lines."""
    notes = []
    if window.get("gap_before"):
        notes.append(f"\n- Contiguous: starts after a gap without snapshots, {window['gap_before']}")
    if window.get("left_out"):
        notes.append(f"\n- Left out: {window['left_out']}")
    return "".join(notes)


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
  holdout from {w["holdout_start"]} (time-based){_window_notes(w)}
- Rows: {w["train_rows"]} train, {w["holdout_rows"]} holdout; {rate} {w["train_positive_rate"]:.2%} train,
  {w["holdout_positive_rate"]:.2%} holdout
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

{estimator_assumptions(params, ImportanceSettings())}
## Retrain triggers
- Nightly schedule with new matured data; drift of key features or score drift beyond the thresholds in
  `params.yaml`; matured-label performance below the gate thresholds above.
"""


def estimator_assumptions(params: Params, importance: ImportanceSettings) -> str:
    """The card's section on the performance the monitor estimates before labels arrive: what each estimator
    assumes, where it is blind, and what checks it (the reader of an estimate needs these to trust it)."""
    s, words = params.schema, params.wording
    rate = words.rate_text(s.target_column)
    return f"""## Performance estimated before labels arrive: assumptions
Labels mature {s.label_delay_days} days late, so every night the monitor estimates this version's ROC AUC, PR AUC,
precision, recall, flag rate and Brier at the decision threshold (and the business value of its decisions)
from the night's rows alone, by two estimators, and grades both against the labels when they mature.

- **CBPE (confidence-based performance estimation).** The scores, calibrated on this version's out-of-sample
  holdout (an isotonic map, kept only where cross-fitting shows it lowers the calibration error or the error of
  the ROC AUC it implies), give each row's probability of the positive class; the expected confusion matrix
  gives the figures, and labels drawn from those probabilities give the interval.
  - *Assumes the calibration holds*: the {rate} at a given score is what it was on the holdout. That stays true
    under covariate shift (the inputs move, the relation from inputs to outcome does not), the drift seen most.
  - *Blind to concept drift*: when the relation itself changes, or the base rate moves (label drift), the
    scores look as confident as before and the estimate stays at its reference level. This is why the monitor
    grades the estimate against the matured labels every night and raises `concept drift suspected` when the
    realized figure falls outside the interval on several nights in a row.
  - *Blind to extrapolation*: rows beyond the training range are estimated as if the model ranked them as well
    as the rows it has seen; importance weighting's overlap check below is the guard.
- **Importance weighting.** The labelled holdout rows, re-weighted by a domain classifier (reference vs
  tonight, cross-fitted) by their density ratio, so that they resemble the night; the figures are those of the
  weighted rows. It uses real labels, so it is the second opinion.
  - *Assumes support overlap*: every kind of row the night holds exists in the holdout. The estimate is withheld,
    with the reason, when a classifier tells the two apart almost perfectly (domain ROC AUC at least
    {importance.max_domain_auc:g}) or when more than {importance.max_unsupported_share:.0%} of the night's rows
    have no counterpart (density ratio above {importance.max_weight:g}).
  - *Effective sample size*: weights are clipped at {importance.max_weight:g}; what they leave of the holdout (the
    effective sample size) is reported every night, and the estimate is withheld below
    {importance.min_effective_rows} effective rows.
  - Assumes, like CBPE, that the outcome given the inputs has not changed: blind to concept drift too.
- Neither estimate overrides the labels: when they mature, the matured-label figures are the final word.
"""

"""DVC stage `evaluate`: holdout metrics, figures and feature importance for the challenger, logged to its run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import Params, load_params, project_dir
from tabular_mlops.core.contracts import (
    HOLDOUT_FILE,
    HOLDOUT_METRICS_FILE,
    HOLDOUT_SCORES_FILE,
    RUN_FILE,
    RunStage,
    Tag,
)
from tabular_mlops.model.classification_metrics import classification_metrics
from tabular_mlops.model.scoring import decision_threshold, model_frame
from tabular_mlops.model.trusted_files import load_verified, verified_copy
from tabular_mlops.training.holdout_scores import write_scores
from tabular_mlops.training.parts import read_part, rows_at
from tabular_mlops.training.plots import save_all


def permutation_importance(model: Any, x: pd.DataFrame, y: np.ndarray, seed: int) -> pd.Series:
    from sklearn.inspection import permutation_importance as sk_perm

    result = sk_perm(model, x, y, scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1)
    return pd.Series(result.importances_mean, index=x.columns)


def evaluate_run_of(info: dict[str, Any]) -> str:
    """Where this evaluation is logged. The training run's own evaluation goes into it; a later one (a changed
    threshold, a new holdout) is a new run tagged with the run it evaluates: the metrics and figures a model
    was registered and gated with are never overwritten."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(info["run_id"])
    if not any(key.startswith("holdout_") for key in run.data.metrics):
        return str(info["run_id"])
    again = client.create_run(
        run.info.experiment_id,
        run_name=f"re-evaluation of {run.info.run_name or info['run_id']}",
        tags={Tag.STAGE: RunStage.EVALUATION, Tag.EVALUATES_RUN: info["run_id"]},
    )
    return str(again.info.run_id)


def evaluate(params: Params, root: Path) -> dict[str, float]:
    import mlflow

    from tabular_mlops.model.tracking import configure_tracking

    schema = params.schema
    info = json.loads((root / params.paths.model_dir / RUN_FILE).read_text())
    configure_tracking(params, root)
    # The checksum of the very file scored goes with the scores: the gate reuses them only for the version whose
    # recorded checksum it verified.
    with verified_copy(info["model_uri"]) as verified:
        model = load_verified(verified, info["model_uri"])
    holdout = root / params.paths.processed_dir / HOLDOUT_FILE
    owner = {
        "run_id": str(info["run_id"]),
        "model_uri": str(info["model_uri"]),
        Tag.MODEL_SHA256: verified.sha256,
    }
    scores = write_scores(model, holdout, schema, root / params.paths.model_dir / HOLDOUT_SCORES_FILE, owner)
    y = read_part(holdout, schema, [schema.target_column])[schema.target_column].astype(int).to_numpy()
    threshold = decision_threshold(
        params.evaluate.decision_threshold, info.get(Tag.DECISION_THRESHOLD), f"run {info['run_id']}"
    )
    metrics = classification_metrics(y, scores, threshold)
    # The same rows as x.sample(n=3000, random_state=seed) of the whole holdout, read by position.
    picked = np.random.RandomState(params.train.seed).choice(len(y), size=min(len(y), 3000), replace=False)
    sample = model_frame(rows_at(holdout, schema, picked), schema)
    importance = permutation_importance(model, sample, y[picked], params.train.seed)
    rate_name = params.wording.rate_text(schema.target_column)
    figures = save_all(y, scores, threshold, importance, root / params.paths.plots_dir, rate_name)
    atomic_write_json(
        root / params.paths.metrics_dir / HOLDOUT_METRICS_FILE, {k: round(v, 6) for k, v in metrics.items()}
    )
    with mlflow.start_run(run_id=evaluate_run_of(info)):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        mlflow.log_dict(importance.round(6).to_dict(), "evaluation/feature_importance.json")
        for fig in figures:
            mlflow.log_artifact(str(fig), artifact_path="evaluation")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    root = project_dir()
    print(json.dumps(evaluate(load_params(args.params or root / "params.yaml"), root)))


if __name__ == "__main__":
    main()

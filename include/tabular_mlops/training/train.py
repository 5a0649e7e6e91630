"""DVC stage `train`: fit each search-space candidate (an MLflow child run) on the training part, or on a
budget of `train.max_rows` rows of it, keep the best on a time-based validation split, refit it on the whole
training part (or the budget, `train.refit_on`) and log it as the challenger's run."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.config import Params, SchemaConfig, load_params, project_dir
from tabular_mlops.core.contracts import RUN_FILE, TRAIN_FILE, WINDOW_FILE, RunStage, Tag, gx_sidecar_day
from tabular_mlops.model.classification_metrics import classification_metrics
from tabular_mlops.model.scoring import model_frame, score_frame
from tabular_mlops.model.tracking import Heartbeat, configure_tracking, fail_orphaned_runs, lineage_tags
from tabular_mlops.training.features import build_pipeline
from tabular_mlops.training.parts import chunks, concat, head, part_rows, read_part
from tabular_mlops.training.run_names import training_run_name
from tabular_mlops.training.threshold import choose_threshold


def time_split(df: pd.DataFrame, validation_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last `validation_fraction` of the (time-ordered) training part validates the candidates."""
    cut = int(len(df) * (1 - validation_fraction))
    return df.iloc[:cut], df.iloc[cut:]


def budget_sample(df: pd.DataFrame, max_rows: int | None, schema: SchemaConfig, seed: int) -> pd.DataFrame:
    """At most about `max_rows` rows of `df`, the same share of every (day, label) group, in `df`'s order.

    Reproducible (a seeded draw per group), and proportional: each day keeps its weight in the window and the
    base rate stays the window's, so the time-based validation split still validates on the newest days."""
    if max_rows is None or len(df) <= max_rows:
        return df
    return _draw(df, max_rows / len(df), schema, np.random.RandomState(seed))


def _draw(
    df: pd.DataFrame, fraction: float, schema: SchemaConfig, random_state: np.random.RandomState
) -> pd.DataFrame:
    """`fraction` of each (day, label) group of `df`, groups drawn in order of first appearance from one
    random stream: drawing a window day by day with the same stream gives the rows drawn from it whole."""
    day = df[schema.timestamp_column].dt.normalize()
    picked = df.groupby([day, df[schema.target_column]], sort=False, group_keys=False).sample(
        frac=fraction, random_state=random_state
    )
    # groupby().sample keeps the original index: back to time order.
    return df.loc[df.index.isin(picked.index)]


def training_columns(schema: SchemaConfig) -> list[str]:
    """What training reads of the training part: day, features, label (not the id)."""
    return [schema.timestamp_column, *schema.feature_names, schema.target_column]


def read_budget(
    path: Path, max_rows: int | None, schema: SchemaConfig, seed: int
) -> tuple[pd.DataFrame, int]:
    """`budget_sample` of the training part and its row count, read one row group (day) at a time: only the
    sample is held, never the part. The same rows as `budget_sample` of the whole part, in the same order."""
    total = part_rows(path)
    columns = training_columns(schema)
    if max_rows is None or total <= max_rows:
        return read_part(path, schema, columns), total
    stream = np.random.RandomState(seed)
    picked = [_draw(day, max_rows / total, schema, stream) for day in chunks(path, schema, columns)]
    return concat(picked), total


def fit_candidate(
    train: pd.DataFrame, schema: SchemaConfig, candidate: Mapping[str, Any], seed: int
) -> Pipeline:
    model = build_pipeline(schema, candidate, seed)
    model.fit(model_frame(train, schema), train[schema.target_column].astype(int).to_numpy())
    return model


def requirements_file(root: Path) -> list[str]:
    """The pinned requirements ship with the model (inferring them costs seconds per log_model)."""
    req = root / "requirements.txt"
    if not req.exists():
        return []
    keep = ("scikit-learn", "pandas", "numpy", "scipy", "mlflow", "skops", "cloudpickle")
    return [ln for ln in req.read_text().splitlines() if ln.split("==")[0].lower() in keep]


def log_model(model: Pipeline, sample: pd.DataFrame, root: Path) -> Any:  # mlflow ModelInfo
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature

    trusted = sio.get_untrusted_types(data=sio.dumps(model))
    scores = model.predict_proba(sample)[:, 1]
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(sample, scores),
        input_example=sample.head(5),
        pip_requirements=requirements_file(root),
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=trusted,
    )


def reference_end(window: dict) -> str:
    return (dt.date.fromisoformat(window["holdout_start"]) - dt.timedelta(days=1)).isoformat()


def train(params: Params, root: Path) -> dict:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    processed = root / params.paths.processed_dir
    part = processed / TRAIN_FILE
    window = json.loads((processed / WINDOW_FILE).read_text())
    schema = params.schema
    searched, rows_window = read_budget(part, params.train.max_rows, schema, params.train.seed)
    fit_part, val_part = time_split(searched, params.preprocess.validation_fraction)
    y_val = val_part[params.schema.target_column].astype(int).to_numpy()
    metric = params.train.selection_metric
    experiment_id = configure_tracking(params, root)
    fail_orphaned_runs(experiment_id)
    tags = lineage_tags(root)
    rule = params.evaluate.decision_threshold

    run_name = training_run_name(window["window_end"], tags[Tag.RETRAIN_REASON])
    with (
        Heartbeat() as heartbeat,
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as parent,
    ):
        heartbeat.add(parent.info.run_id)
        mlflow.set_tags(
            {
                **tags,
                Tag.STAGE: RunStage.CHALLENGER,
                Tag.DATA_WINDOW: f"{window['window_start']}..{window['window_end']}",
                # The training part of the window: what monitoring compares production data against.
                Tag.REFERENCE_WINDOW: f"{window['first_snapshot']}..{reference_end(window)}",
            }
        )
        mlflow.log_params(params.flat())
        mlflow.log_metrics({"rows_window": rows_window, "rows_search": len(searched)})
        candidates = []
        tried: list[dict[str, Any]] = []
        for i, hyper in enumerate(params.train.search_space):
            name = f"candidate-{i} {hyper['model']}"
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True) as child:
                heartbeat.add(child.info.run_id)
                mlflow.set_tags({**tags, Tag.STAGE: RunStage.CANDIDATE})
                mlflow.log_params({f"candidate.{k}": v for k, v in hyper.items()})
                model = fit_candidate(fit_part, params.schema, hyper, params.train.seed)
                val_scores = score_frame(model, val_part, params.schema)
                # Each candidate's own threshold, on its out-of-sample validation scores (precision, recall
                # and F1 depend on it); the winner's is the version's.
                threshold = choose_threshold(y_val, val_scores, rule)
                val = classification_metrics(y_val, val_scores, threshold)
                mlflow.log_metrics({f"val_{k}": v for k, v in val.items()})
                mlflow.log_metric(Tag.DECISION_THRESHOLD, threshold)
                candidates.append((val[metric], i, hyper, threshold))
                tried.append({"index": i, **hyper, f"val_{metric}": round(val[metric], 6)})
            heartbeat.discard(child.info.run_id)
        # Highest selection metric wins; ties go to the earlier candidate so the choice is repeatable.
        best_value, best_index, best_hyper, best_threshold = max(candidates, key=lambda c: (c[0], -c[1]))
        mlflow.log_params({f"best.{k}": v for k, v in best_hyper.items()})
        mlflow.log_metric(f"val_{metric}", best_value)
        mlflow.set_tag(Tag.BEST_CANDIDATE, str(best_index))
        mlflow.set_tag(Tag.DECISION_THRESHOLD, f"{best_threshold:.6f}")

        del fit_part, val_part
        refit = searched
        if params.train.refit_on == "window" and rows_window > len(searched):
            # The whole training part in memory (about 1 KB a row at fit time with the example's 11 features):
            # see params.yaml train.refit_on before choosing it for a large window.
            del searched
            refit = read_part(part, schema, training_columns(schema))
        mlflow.log_metric("rows_refit", len(refit))
        model = fit_candidate(refit, params.schema, best_hyper, params.train.seed)
        dataset = from_pandas(
            refit,
            source=f"{params.paths.raw_dir}@{tags[Tag.DVC_DATA_HASH]}",
            name="training_window",
            targets=params.schema.target_column,
        )
        mlflow.log_input(dataset, context="training")
        sample = model_frame(head(part, schema, 200), schema)
        logged = log_model(model, sample, root)
        first, last = (dt.date.fromisoformat(window[k]) for k in ("first_snapshot", "window_end"))
        results = {
            p.name: json.loads(p.read_text())
            for p in sorted((root / params.paths.raw_dir).iterdir())
            if (day := gx_sidecar_day(p.name)) is not None and first <= day <= last
        }
        mlflow.log_dict(results, "validation/gx_results.json")
        mlflow.log_dict(window, f"data/{WINDOW_FILE}")
        info = {
            "run_id": parent.info.run_id,
            "model_uri": logged.model_uri,
            "experiment_id": experiment_id,
            "best_candidate": best_index,
            "best_hyperparams": best_hyper,
            "candidates": tried,
            f"val_{metric}": best_value,
            Tag.DECISION_THRESHOLD: round(best_threshold, 6),
            "window": window,
        }
    model_dir = root / params.paths.model_dir
    atomic_write_json(model_dir / RUN_FILE, info)
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    root = project_dir()
    info = train(load_params(args.params or root / "params.yaml"), root)
    print(json.dumps({k: info[k] for k in ("run_id", "model_uri", "best_candidate")}))


if __name__ == "__main__":
    main()

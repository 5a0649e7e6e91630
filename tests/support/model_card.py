"""A trained version's information as the model card reads it (window, candidates, metrics)."""

INFO = {
    "window": {
        "window_start": "2019-01-01",
        "window_end": "2019-02-14",
        "snapshots": 45,
        "holdout_start": "2019-02-05",
        "train_rows": 900,
        "holdout_rows": 100,
        "train_positive_rate": 0.25,
        "holdout_positive_rate": 0.26,
    },
    "best_hyperparams": {"model": "logistic_regression", "C": 1.0},
    "best_candidate": 0,
    "candidates": [{"index": 0, "model": "logistic_regression", "C": 1.0, "val_roc_auc": 0.8}],
    "run_id": "r1",
    "decision_threshold": 0.3,
}
METRICS = {"roc_auc": 0.8, "pr_auc": 0.5, "brier": 0.15, "brier_skill": 0.2}

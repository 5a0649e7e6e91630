"""One wrong value in a copy of params.yaml per case: load_params refuses it, naming the file, the key path and
the allowed range or values."""

import pytest
import yaml
from tabular_mlops.core.config import ConfigError, load_params

from tests.support.project import REPO


def _set(*path_and_value):
    *path, value = path_and_value

    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _pop(*path):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])

    return mutate


# (case id, mutation, key path named in the error, what the error says is allowed)
RULES = [
    # schema
    (
        "label_delay_negative",
        _set("schema", "label_delay_days", -1),
        "schema.label_delay_days",
        ">= 0 (got -1)",
    ),
    (
        "feature_type",
        _set("schema", "features", "age", "type", "integer"),
        "schema.features.age.type",
        "'float', 'int' or 'category'",
    ),
    (
        "category_without_list",
        _pop("schema", "features", "region", "categories"),
        "schema.features.region.categories",
        "must list its allowed values",
    ),
    (
        "category_empty_list",
        _set("schema", "features", "region", "categories", []),
        "schema.features.region.categories",
        "must list its allowed values",
    ),
    (
        "category_duplicated",
        _set("schema", "features", "region", "categories", ["north", "north"]),
        "schema.features.region.categories",
        "more than once",
    ),
    (
        "category_yaml_bool",
        _set("schema", "features", "region", "categories", ["north", True]),
        "schema.features.region.categories",
        "quote them",
    ),
    (
        "categories_on_numeric",
        _set("schema", "features", "age", "categories", ["young"]),
        "schema.features.age.categories",
        "only category features",
    ),
    (
        "bounds_on_category",
        _set("schema", "features", "region", "max", 3),
        "schema.features.region.max",
        "only numeric features have bounds",
    ),
    ("min_above_max", _set("schema", "features", "age", "min", 200), "schema.features.age.min", "<= max 100"),
    (
        "feature_unknown_key",
        _set("schema", "features", "age", "nulable", True),
        "schema.features.age.nulable",
        "allowed: type, min, max, nullable, value_type, categories",
    ),
    (
        "nullable_not_bool",
        _set("schema", "features", "age", "nullable", "sometimes"),
        "schema.features.age.nullable",
        "true or false",
    ),
    ("no_features", _set("schema", "features", {}), "schema.features", "at least 1"),
    (
        "target_is_feature",
        _set("schema", "target_column", "income"),
        "schema.target_column",
        "also in schema.features",
    ),
    (
        "id_is_timestamp",
        _set("schema", "timestamp_column", "application_id"),
        "schema.timestamp_column",
        "already schema.id_column",
    ),
    ("table_empty", _set("schema", "table", ""), "schema.table", "must not be empty"),
    # simulate
    ("simulate_seed_negative", _set("simulate", "seed", -1), "simulate.seed", "in [0, 4294967295]"),
    (
        "history_start_not_date",
        _set("simulate", "history_start", "2026-13-01"),
        "simulate.history_start",
        "ISO date YYYY-MM-DD",
    ),
    (
        "scenario_start_not_date",
        _set("simulate", "scenario_start", "soon"),
        "simulate.scenario_start",
        "ISO date YYYY-MM-DD",
    ),
    ("history_days_zero", _set("simulate", "history_days", 0), "simulate.history_days", ">= 1 (got 0)"),
    ("rows_per_day_zero", _set("simulate", "rows_per_day", 0), "simulate.rows_per_day", "in [1, 1000000]"),
    ("scenario_empty", _set("simulate", "scenario", ""), "simulate.scenario", "must not be empty"),
    # paths
    ("path_empty", _set("paths", "raw_dir", ""), "paths.raw_dir", "must not be empty"),
    # validate
    (
        "max_null_fraction",
        _set("validate", "max_null_fraction", 1.5),
        "validate.max_null_fraction",
        "in [0, 1]",
    ),
    ("min_rows_zero", _set("validate", "min_rows", 0), "validate.min_rows", ">= 1"),
    (
        "min_rows_above_max",
        _set("validate", "min_rows", 10_000_000),
        "validate.min_rows",
        "<= validate.max_rows 5000000",
    ),
    # preprocess
    ("window_days_zero", _set("preprocess", "window_days", 0), "preprocess.window_days", ">= 2 (got 0)"),
    ("holdout_days_zero", _set("preprocess", "holdout_days", 0), "preprocess.holdout_days", ">= 1"),
    (
        "holdout_not_below_window",
        _set("preprocess", "holdout_days", 45),
        "preprocess.holdout_days",
        "< preprocess.window_days 45",
    ),
    (
        "validation_fraction_above_one",
        _set("preprocess", "validation_fraction", 1.5),
        "preprocess.validation_fraction",
        "in (0, 1) (got 1.5)",
    ),
    (
        "validation_fraction_zero",
        _set("preprocess", "validation_fraction", 0),
        "preprocess.validation_fraction",
        "in (0, 1)",
    ),
    # train
    ("train_seed_text", _set("train", "seed", "forty-two"), "train.seed", "whole number"),
    (
        "train_model_moved",
        _set("train", "model", "hist_gradient_boosting"),
        "train.model",
        "each train.search_space entry names its estimator",
    ),
    (
        "selection_metric_unknown",
        _set("train", "selection_metric", "accuracy"),
        "train.selection_metric",
        "roc_auc, pr_auc, precision, recall, f1",
    ),
    (
        "selection_metric_lower_is_better",
        _set("train", "selection_metric", "brier"),
        "train.selection_metric",
        "highest value",
    ),
    ("search_space_empty", _set("train", "search_space", []), "train.search_space", "at least 1"),
    (
        "candidate_without_model",
        _pop("train", "search_space", 0, "model"),
        "train.search_space.0.model",
        "hist_gradient_boosting, logistic_regression, random_forest",
    ),
    (
        "candidate_unknown_model",
        _set("train", "search_space", 2, "model", "xgboost"),
        "train.search_space.2.model",
        "'hist_gradient_boosting', 'logistic_regression', 'random_forest'",
    ),
    (
        "hgb_foreign_hyperparameter",
        _set("train", "search_space", 0, "C", 1.0),
        "train.search_space.0.C",
        "allowed: model, learning_rate, max_iter",
    ),
    (
        "hgb_learning_rate",
        _set("train", "search_space", 0, "learning_rate", 2.0),
        "train.search_space.0.learning_rate",
        "in (0, 1]",
    ),
    (
        "hgb_max_depth",
        _set("train", "search_space", 1, "max_depth", 0),
        "train.search_space.1.max_depth",
        ">= 1",
    ),
    (
        "hgb_max_iter",
        _set("train", "search_space", 1, "max_iter", 0),
        "train.search_space.1.max_iter",
        ">= 1",
    ),
    ("lr_c", _set("train", "search_space", 2, "C", 0.0), "train.search_space.2.C", "> 0"),
    (
        "lr_foreign_hyperparameter",
        _set("train", "search_space", 2, "max_depth", 3),
        "train.search_space.2.max_depth",
        "allowed: model, C, max_iter, class_weight",
    ),
    (
        "rf_n_estimators",
        _set("train", "search_space", 3, "n_estimators", 0),
        "train.search_space.3.n_estimators",
        ">= 1",
    ),
    (
        "rf_min_samples_leaf",
        _set("train", "search_space", 3, "min_samples_leaf", 0),
        "train.search_space.3.min_samples_leaf",
        ">= 1",
    ),
    # evaluate
    (
        "decision_threshold",
        _set("evaluate", "decision_threshold", 1.0),
        "evaluate.decision_threshold.value",
        "in (0, 1)",
    ),
    # gate
    ("min_roc_auc_missing", _pop("gate", "min_roc_auc"), "gate.min_roc_auc", "missing"),
    ("min_roc_auc_range", _set("gate", "min_roc_auc", 70), "gate.min_roc_auc", "in [0, 1]"),
    ("min_brier_skill_range", _set("gate", "min_brier_skill", -0.1), "gate.min_brier_skill", "in [0, 1)"),
    (
        "max_brier_retired",
        _set("gate", "max_brier", 0.06),
        "gate.max_brier",
        "replaced by gate.min_brier_skill",
    ),
    ("champion_margin_negative", _set("gate", "champion_margin", -0.01), "gate.champion_margin", "in [0, 1]"),
    (
        "comparison_metric_unknown",
        _set("gate", "comparison_metric", "accuracy"),
        "gate.comparison_metric",
        "'roc_auc', 'pr_auc', 'precision', 'recall', 'f1', 'brier', 'brier_skill' or 'log_loss'",
    ),
    ("latency_ms_zero", _set("gate", "latency_p95_ms", 0), "gate.latency_p95_ms", "> 0"),
    ("latency_ms_infinite", _set("gate", "latency_p95_ms", float("inf")), "gate.latency_p95_ms", "finite"),
    ("latency_samples_zero", _set("gate", "latency_samples", 0), "gate.latency_samples", ">= 1"),
    # registry
    ("registry_missing", _pop("registry"), "registry", "missing"),
    ("model_name_empty", _set("registry", "model_name", ""), "registry.model_name", "must not be empty"),
    # monitor
    ("monitor_window_days", _set("monitor", "window_days", 0), "monitor.window_days", ">= 1"),
    ("monitor_min_rows", _set("monitor", "min_rows", 0), "monitor.min_rows", ">= 1"),
    ("psi_bins", _set("monitor", "psi_bins", 0), "monitor.psi_bins", "must be >= 2 (got 0)"),
    ("psi_moderate_zero", _set("monitor", "psi_moderate", 0), "monitor.psi_moderate", "> 0"),
    (
        "psi_bands_unordered",
        _set("monitor", "psi_moderate", 0.3),
        "monitor.psi_moderate",
        "< monitor.psi_significant 0.25",
    ),
    ("ks_alpha", _set("monitor", "ks_alpha", 0), "monitor.ks_alpha", "in (0, 1)"),
    (
        "max_window_rows_below_min_rows",
        _set("monitor", "max_window_rows", 100),
        "monitor.max_window_rows",
        ">= monitor.min_rows 500 (got 100)",
    ),
    ("ks_min_statistic", _set("monitor", "ks_min_statistic", 1), "monitor.ks_min_statistic", "in [0, 1)"),
    (
        "default_test_unknown_type",
        _set("monitor", "default_test", "text", "psi"),
        "monitor.default_test.text",
        "allowed: float, int, category",
    ),
    (
        "default_test_ks_on_category",
        _set("monitor", "default_test", "category", "ks"),
        "monitor.default_test.category",
        "psi, chi2 for a category column",
    ),
    (
        "default_test_chi2_on_float",
        _set("monitor", "default_test", "float", "chi2"),
        "monitor.default_test.float",
        "psi, ks for a float column",
    ),
    ("default_test_missing_type", _pop("monitor", "default_test", "int"), "monitor.default_test", "['int']"),
    (
        "column_tests_unknown_column",
        _set("monitor", "column_tests", "incme", "psi"),
        "monitor.column_tests.incme",
        "not in schema.features (income, age",
    ),
    (
        "column_tests_ks_on_category",
        _set("monitor", "column_tests", "region", "ks"),
        "monitor.column_tests.region",
        "psi, chi2 for a category column (got 'ks')",
    ),
    (
        "column_tests_unknown_test",
        _set("monitor", "column_tests", "income", "t_test"),
        "monitor.column_tests.income",
        "psi, ks for a float column",
    ),
    (
        "key_features_unknown",
        _set("monitor", "key_features", ["income", "incme"]),
        "monitor.key_features",
        "['incme'] not in schema.features",
    ),
    (
        "drift_share_threshold",
        _set("monitor", "drift_share_threshold", 0),
        "monitor.drift_share_threshold",
        "in (0, 1]",
    ),
    ("score_psi_threshold", _set("monitor", "score_psi_threshold", -1), "monitor.score_psi_threshold", "> 0"),
    ("max_missing_rate", _set("monitor", "max_missing_rate", 2), "monitor.max_missing_rate", "in [0, 1]"),
    (
        "max_outlier_share",
        _set("monitor", "max_outlier_share", -0.1),
        "monitor.max_outlier_share",
        "in [0, 1]",
    ),
    ("max_unseen_share", _set("monitor", "max_unseen_share", 1.1), "monitor.max_unseen_share", "in [0, 1]"),
    ("row_count_tolerance", _set("monitor", "row_count_tolerance", 0), "monitor.row_count_tolerance", "> 0"),
    (
        "retrain_flag_text",
        _set("monitor", "retrain_on_label_drift", "sometimes"),
        "monitor.retrain_on_label_drift",
        "true or false",
    ),
    (
        "label_rate_max_change",
        _set("monitor", "label_rate_max_change", -1.0),
        "monitor.label_rate_max_change",
        "> 0",
    ),
    ("label_alpha", _set("monitor", "label_alpha", 1.5), "monitor.label_alpha", "in (0, 1)"),
    ("cooldown_negative", _set("monitor", "cooldown_days", -1), "monitor.cooldown_days", ">= 0 (got -1)"),
    ("report_sample_rows", _set("monitor", "report_sample_rows", 0), "monitor.report_sample_rows", ">= 1"),
    (
        "monitor_unknown_key",
        _set("monitor", "psi_binz", 10),
        "monitor.psi_binz",
        "allowed: window_days, min_rows",
    ),
    ("paths_missing_key", _pop("paths", "evidently_workspace"), "paths.evidently_workspace", "missing"),
    # serving
    ("serving_port_zero", _set("serving", "port", 0), "serving.port", "in [1, 65535]"),
    ("serving_port_text", _set("serving", "port", "8090"), "serving.port", "whole number"),
    ("serving_max_batch_zero", _set("serving", "max_batch", 0), "serving.max_batch", "in [1, 10000]"),
    (
        "serving_body_tiny",
        _set("serving", "max_body_bytes", 10),
        "serving.max_body_bytes",
        "in [1024, 67108864]",
    ),
    ("serving_poll_too_fast", _set("serving", "poll_seconds", 0.1), "serving.poll_seconds", "in [0.5, 3600]"),
    (
        "serving_fallback_is_an_answer",
        _set("serving", "fallback_decision", "approve"),
        "serving.fallback_decision",
        "must differ from serving.low_risk_decision",
    ),
    (
        "serving_same_decisions",
        _set("serving", "high_risk_decision", "approve"),
        "serving.high_risk_decision",
        "must differ from serving.low_risk_decision",
    ),
    (
        "serving_log_batch_above_buffer",
        _set("serving", "log_batch_rows", 100_000),
        "serving.log_batch_rows",
        "<= serving.log_buffer_rows 50000",
    ),
    ("serving_latency_zero", _set("serving", "latency_p95_ms", 0), "serving.latency_p95_ms", "> 0"),
    ("serving_cache_dir_empty", _set("serving", "cache_dir", ""), "serving.cache_dir", "must not be empty"),
    (
        "serving_unknown_key",
        _set("serving", "workers", 4),
        "serving.workers",
        "allowed: host, port, max_batch",
    ),
    ("serving_missing", _pop("serving"), "serving", "missing"),
]


@pytest.mark.parametrize(("mutate", "key", "allowed"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_one_wrong_value_is_refused_with_key_and_allowed_values(tmp_path, mutate, key, allowed):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_params(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, f"one wrong value, one error: {lines}"
    assert lines[0].startswith(f"{path}: {key}: "), lines[0]
    assert allowed in lines[0]

"""params.yaml -> frozen, validated pydantic dataclasses, one per section. Nothing is read at import time.

Every key has a type and a range, cross-field rules live on the section they concern (the ones that need the
schema on `Params`), and unknown keys are errors. `load_params` turns pydantic's errors into one `ConfigError`
that lists every problem as `<file>: <key.path>: <rule> (got <value>)`. Pydantic dataclasses rather than
`BaseModel`s: callers derive variants with `dataclasses.replace`, which validates the new values again.
"""

from __future__ import annotations

from tabular_mlops.core.config.data_sections import (
    SCHEDULE_PRESETS,
    DagSchedules,
    DagsConfig,
    IngestConfig,
    PathsConfig,
    PreprocessConfig,
    Schedule,
    SimulateConfig,
    ValidateConfig,
)
from tabular_mlops.core.config.fields import (
    FEATURE_TYPES,
    LOWER_IS_BETTER,
    METRICS,
    TESTS_FOR_TYPE,
    CategoryValueType,
    ConfigError,
    Count,
    Days,
    FeatureType,
    IsoDate,
    Label,
    Metric,
    Number,
    OpenFraction,
    Positive,
    Seed,
    Share,
    Text,
    UpToOne,
    Word,
    label_key,
)
from tabular_mlops.core.config.loader import load_params, project_dir
from tabular_mlops.core.config.model_sections import (
    ESTIMATORS,
    THRESHOLD_RULE_KEYS,
    Candidate,
    EvaluateConfig,
    GateConfig,
    HistGradientBoostingCandidate,
    LogisticRegressionCandidate,
    RandomForestCandidate,
    RegistryConfig,
    ThresholdRule,
    ThresholdRuleName,
    TrainConfig,
)
from tabular_mlops.core.config.params import Params
from tabular_mlops.core.config.runtime_sections import MonitorConfig, ServingConfig, WordingConfig
from tabular_mlops.core.config.table_schema import FeatureSpec, SchemaConfig

__all__ = [
    "FeatureType",
    "CategoryValueType",
    "Metric",
    "FEATURE_TYPES",
    "METRICS",
    "LOWER_IS_BETTER",
    "TESTS_FOR_TYPE",
    "Word",
    "Text",
    "Count",
    "Days",
    "Seed",
    "Number",
    "Positive",
    "Share",
    "OpenFraction",
    "UpToOne",
    "ConfigError",
    "IsoDate",
    "Label",
    "label_key",
    "FeatureSpec",
    "SchemaConfig",
    "SimulateConfig",
    "IngestConfig",
    "PathsConfig",
    "ValidateConfig",
    "PreprocessConfig",
    "SCHEDULE_PRESETS",
    "Schedule",
    "DagSchedules",
    "DagsConfig",
    "HistGradientBoostingCandidate",
    "LogisticRegressionCandidate",
    "RandomForestCandidate",
    "Candidate",
    "ESTIMATORS",
    "TrainConfig",
    "ThresholdRuleName",
    "THRESHOLD_RULE_KEYS",
    "ThresholdRule",
    "EvaluateConfig",
    "GateConfig",
    "RegistryConfig",
    "MonitorConfig",
    "ServingConfig",
    "WordingConfig",
    "Params",
    "load_params",
    "project_dir",
]

"""params.yaml -> frozen dataclasses. The path is always passed in; nothing is read at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FEATURE_TYPES = ("float", "int", "category")


class ConfigError(ValueError):
    """A params.yaml problem; the message names the file and the key."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    categories: tuple[str, ...] = ()

    @property
    def is_categorical(self) -> bool:
        return self.type == "category"


@dataclass(frozen=True)
class SchemaConfig:
    table: str
    id_column: str
    timestamp_column: str
    target_column: str
    label_delay_days: int
    features: tuple[FeatureSpec, ...]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if not f.is_categorical]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_categorical]

    @property
    def columns(self) -> list[str]:
        return [self.id_column, self.timestamp_column, *self.feature_names, self.target_column]

    def feature(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)


@dataclass(frozen=True)
class SimulateConfig:
    seed: int
    history_start: str
    history_days: int
    rows_per_day: int
    scenario: str
    scenario_start: str | None


@dataclass(frozen=True)
class PathsConfig:
    raw_dir: str
    landing_dir: str
    quarantine_dir: str
    processed_dir: str
    model_dir: str
    metrics_dir: str
    reports_dir: str
    expectations_dir: str
    evidently_workspace: str


@dataclass(frozen=True)
class ValidateConfig:
    max_null_fraction: float
    min_rows: int
    max_rows: int


@dataclass(frozen=True)
class PreprocessConfig:
    window_days: int
    holdout_days: int
    validation_fraction: float


@dataclass(frozen=True)
class TrainConfig:
    seed: int
    model: str
    search_space: tuple[dict[str, Any], ...]
    selection_metric: str


@dataclass(frozen=True)
class EvaluateConfig:
    decision_threshold: float


@dataclass(frozen=True)
class GateConfig:
    min_roc_auc: float
    min_pr_auc: float
    max_brier: float
    champion_margin: float
    comparison_metric: str
    latency_p95_ms: float
    latency_samples: int


@dataclass(frozen=True)
class RegistryConfig:
    model_name: str
    experiment_name: str


@dataclass(frozen=True)
class MonitorConfig:
    window_days: int
    min_rows: int
    psi_bins: int
    psi_moderate: float
    psi_significant: float
    ks_alpha: float
    ks_min_statistic: float
    default_test: dict[str, str]
    column_tests: dict[str, str]
    key_features: tuple[str, ...]
    drift_share_threshold: float
    score_psi_threshold: float
    max_missing_rate: float
    max_outlier_share: float
    max_unseen_share: float
    row_count_tolerance: float
    retrain_when_drifted_but_performing: bool
    label_rate_max_change: float
    label_alpha: float
    retrain_on_label_drift: bool
    cooldown_days: int
    report_sample_rows: int
    experiment_name: str


MONITOR_KINDS: dict[str, type] = {
    "window_days": int,
    "min_rows": int,
    "psi_bins": int,
    "psi_moderate": float,
    "psi_significant": float,
    "ks_alpha": float,
    "ks_min_statistic": float,
    "default_test": dict,
    "column_tests": dict,
    "key_features": list,
    "drift_share_threshold": float,
    "score_psi_threshold": float,
    "max_missing_rate": float,
    "max_outlier_share": float,
    "max_unseen_share": float,
    "row_count_tolerance": float,
    "retrain_when_drifted_but_performing": bool,
    "label_rate_max_change": float,
    "label_alpha": float,
    "retrain_on_label_drift": bool,
    "cooldown_days": int,
    "report_sample_rows": int,
    "experiment_name": str,
}
DRIFT_TESTS = ("psi", "ks", "chi2")


@dataclass(frozen=True)
class Params:
    schema: SchemaConfig
    simulate: SimulateConfig
    paths: PathsConfig
    validate: ValidateConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    gate: GateConfig
    registry: RegistryConfig
    monitor: MonitorConfig
    source_file: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def flat(self) -> dict[str, str]:
        """Every parameter as `section.key` -> string, for MLflow params."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = str(value)

        walk("", self.raw)
        return out


def _require(section: dict[str, Any], key: str, where: str, source: str, kind: type | tuple) -> Any:
    if not isinstance(section, dict) or key not in section:
        raise ConfigError(f"{source}: missing key '{where}.{key}'")
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(
            f"{source}: key '{where}.{key}' must be {want}, got {type(value).__name__} ({value!r})"
        )
    return value


def _section(raw: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: missing or malformed section '{key}' (expected a mapping)")
    return value


def _load_dataclass(cls: type, raw: dict[str, Any], name: str, source: str, kinds: dict) -> Any:
    section = _section(raw, name, source)
    return cls(**{k: _require(section, k, name, source, t) for k, t in kinds.items()})


def _load_features(schema: dict[str, Any], source: str) -> tuple[FeatureSpec, ...]:
    features = _require(schema, "features", "schema", source, dict)
    specs = []
    for name, spec in features.items():
        where = f"schema.features.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: key '{where}' must be a mapping")
        ftype = spec.get("type")
        if ftype not in FEATURE_TYPES:
            raise ConfigError(f"{source}: key '{where}.type' must be one of {FEATURE_TYPES}, got {ftype!r}")
        categories = tuple(str(c) for c in spec.get("categories", ()) or ())
        if ftype == "category" and not categories:
            raise ConfigError(f"{source}: key '{where}.categories' must list the allowed values")
        for bound in ("min", "max"):
            if spec.get(bound) is not None and not isinstance(spec[bound], int | float):
                raise ConfigError(f"{source}: key '{where}.{bound}' must be a number")
        specs.append(
            FeatureSpec(
                name=str(name),
                type=ftype,
                min=spec.get("min"),
                max=spec.get("max"),
                nullable=bool(spec.get("nullable", False)),
                categories=categories,
            )
        )
    if not specs:
        raise ConfigError(f"{source}: key 'schema.features' lists no features")
    return tuple(specs)


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read and check params.yaml; every error names the file and the key."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read params file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections")

    s = _section(raw, "schema", source)
    schema = SchemaConfig(
        table=_require(s, "table", "schema", source, str),
        id_column=_require(s, "id_column", "schema", source, str),
        timestamp_column=_require(s, "timestamp_column", "schema", source, str),
        target_column=_require(s, "target_column", "schema", source, str),
        label_delay_days=_require(s, "label_delay_days", "schema", source, int),
        features=_load_features(s, source),
    )
    sim = _section(raw, "simulate", source)
    simulate = SimulateConfig(
        seed=_require(sim, "seed", "simulate", source, int),
        history_start=str(_require(sim, "history_start", "simulate", source, (str, object))),
        history_days=_require(sim, "history_days", "simulate", source, int),
        rows_per_day=_require(sim, "rows_per_day", "simulate", source, int),
        scenario=_require(sim, "scenario", "simulate", source, str),
        scenario_start=None if sim.get("scenario_start") is None else str(sim["scenario_start"]),
    )
    paths = _load_dataclass(
        PathsConfig, raw, "paths", source, {k: str for k in PathsConfig.__dataclass_fields__}
    )
    validate = _load_dataclass(
        ValidateConfig,
        raw,
        "validate",
        source,
        {"max_null_fraction": float, "min_rows": int, "max_rows": int},
    )
    preprocess = _load_dataclass(
        PreprocessConfig,
        raw,
        "preprocess",
        source,
        {"window_days": int, "holdout_days": int, "validation_fraction": float},
    )
    t = _section(raw, "train", source)
    space = _require(t, "search_space", "train", source, list)
    if not space or not all(isinstance(c, dict) for c in space):
        raise ConfigError(f"{source}: key 'train.search_space' must be a non-empty list of mappings")
    train = TrainConfig(
        seed=_require(t, "seed", "train", source, int),
        model=_require(t, "model", "train", source, str),
        search_space=tuple(dict(c) for c in space),
        selection_metric=_require(t, "selection_metric", "train", source, str),
    )
    evaluate = _load_dataclass(EvaluateConfig, raw, "evaluate", source, {"decision_threshold": float})
    gate = _load_dataclass(
        GateConfig,
        raw,
        "gate",
        source,
        {
            "min_roc_auc": float,
            "min_pr_auc": float,
            "max_brier": float,
            "champion_margin": float,
            "comparison_metric": str,
            "latency_p95_ms": float,
            "latency_samples": int,
        },
    )
    registry = _load_dataclass(
        RegistryConfig, raw, "registry", source, {"model_name": str, "experiment_name": str}
    )
    monitor = _load_monitor(raw, source, schema)
    if preprocess.holdout_days >= preprocess.window_days:
        raise ConfigError(
            f"{source}: key 'preprocess.holdout_days' must be smaller than 'preprocess.window_days'"
        )
    if simulate.rows_per_day < 0:
        raise ConfigError(f"{source}: key 'simulate.rows_per_day' must be >= 0")
    return Params(
        schema=schema,
        simulate=simulate,
        paths=paths,
        validate=validate,
        preprocess=preprocess,
        train=train,
        evaluate=evaluate,
        gate=gate,
        registry=registry,
        monitor=monitor,
        source_file=source,
        raw=raw,
    )


def _load_monitor(raw: dict[str, Any], source: str, schema: SchemaConfig) -> MonitorConfig:
    section = _section(raw, "monitor", source)
    values = {k: _require(section, k, "monitor", source, t) for k, t in MONITOR_KINDS.items()}
    values["key_features"] = tuple(values["key_features"])
    for key in ("key_features",):
        unknown = [c for c in values[key] if c not in schema.feature_names]
        if unknown:
            raise ConfigError(f"{source}: key 'monitor.{key}' names unknown feature(s) {unknown}")
    for col, test in {**values["default_test"], **values["column_tests"]}.items():
        if test not in DRIFT_TESTS:
            raise ConfigError(
                f"{source}: key 'monitor' test for '{col}' must be one of {DRIFT_TESTS}, got {test!r}"
            )
    if not 0 < values["label_alpha"] < 1:
        raise ConfigError(
            f"{source}: key 'monitor.label_alpha' must be in (0, 1), got {values['label_alpha']}"
        )
    if values["label_rate_max_change"] <= 0:
        raise ConfigError(
            f"{source}: key 'monitor.label_rate_max_change' must be > 0, got {values['label_rate_max_change']}"
        )
    unknown = [c for c in values["column_tests"] if c not in schema.feature_names]
    if unknown:
        raise ConfigError(f"{source}: key 'monitor.column_tests' names unknown feature(s) {unknown}")
    return MonitorConfig(**values)


def project_dir() -> Path:
    """The project root: $MLOPS_PROJECT_DIR, else the current directory (how `dvc repro` runs stages)."""
    return Path(os.environ.get("MLOPS_PROJECT_DIR") or Path.cwd()).resolve()


def default_params_path() -> Path:
    return project_dir() / "params.yaml"

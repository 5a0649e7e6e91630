"""`Params`: every section of params.yaml, with the rules that need more than one section."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Union

from pydantic import (
    TypeAdapter,
    model_validator,
)
from pydantic.dataclasses import dataclass

from tabular_mlops.core.config.data_sections import (
    DagsConfig,
    IngestConfig,
    PathsConfig,
    PreprocessConfig,
    SimulateConfig,
    ValidateConfig,
)
from tabular_mlops.core.config.deploy_section import DeployConfig
from tabular_mlops.core.config.fields import (
    _STRICT,
    FEATURE_TYPES,
    TESTS_FOR_TYPE,
    _raise_if,
)
from tabular_mlops.core.config.model_sections import (
    ESTIMATORS,
    EvaluateConfig,
    GateConfig,
    RegistryConfig,
    TrainConfig,
)
from tabular_mlops.core.config.runtime_sections import (
    BusinessValueConfig,
    MonitorConfig,
    ServingConfig,
    WordingConfig,
    _wrong_test,
)
from tabular_mlops.core.config.table_schema import SchemaConfig


@dataclass(frozen=True, config=_STRICT)
class Params:
    schema: SchemaConfig
    """The source table: its name, id, time and target columns, the target's labels and the model's
    features."""
    simulate: SimulateConfig
    """The example's seeded simulator of loan applications (the source `make run` seeds and keeps live)."""
    paths: PathsConfig
    """Where the pipeline reads and writes, relative to the project directory."""
    validate: ValidateConfig
    """The Great Expectations suite's limits, besides the schema's types, ranges and categories."""
    preprocess: PreprocessConfig
    """The training window and the time-based holdout the gate judges on."""
    train: TrainConfig
    """The candidate search: estimators and hyperparameters, the selection metric, the row budget."""
    evaluate: EvaluateConfig
    """How the decision threshold on the score is set."""
    gate: GateConfig
    """What a challenger must pass to become champion."""
    registry: RegistryConfig
    """The MLflow registered model and training experiment."""
    monitor: MonitorConfig
    """Nightly monitoring: drift tests and thresholds, quality rules, the retrain/keep decision."""
    serving: ServingConfig
    """The online scoring service (`tabular-mlops serve`); endpoints and the admin token come from the
    environment."""
    dags: DagsConfig
    """When the DAGs run."""
    wording: WordingConfig = dataclasses.field(default_factory=WordingConfig)
    """The words user-visible outputs (model card, reports, alerts, plots) use for the domain."""
    ingest: IngestConfig = dataclasses.field(default_factory=IngestConfig)
    """How extraction reads the source."""
    deploy: DeployConfig = dataclasses.field(default_factory=DeployConfig)
    """How a gated challenger is proven in production: shadow, canary, A/B test, bandit."""
    business_value: BusinessValueConfig = dataclasses.field(default_factory=BusinessValueConfig)
    """The value of each decision at the threshold: estimated every night, realized when labels mature."""
    source_file: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @model_validator(mode="after")
    def _monitor_matches_schema(self) -> Params:
        """Monitoring names columns and tests that must exist in the schema and fit the column's type."""
        schema, mon = self.schema, self.monitor
        names = schema.feature_names
        problems: list[tuple[str, str]] = []
        unknown = [c for c in mon.key_features if c not in names]
        if unknown:
            problems.append(
                ("monitor.key_features", f"{unknown} not in schema.features ({', '.join(names)})")
            )
        for column, test in mon.column_tests.items():
            if column not in names:
                problems.append(
                    (f"monitor.column_tests.{column}", f"not in schema.features ({', '.join(names)})")
                )
            elif test not in TESTS_FOR_TYPE[schema.feature(column).type]:
                problems.append(
                    (f"monitor.column_tests.{column}", _wrong_test(schema.feature(column).type, test))
                )
        untested = [
            t for t in FEATURE_TYPES if t in {f.type for f in schema.features} and t not in mon.default_test
        ]
        if untested:
            problems.append(
                ("monitor.default_test", f"needs a test for feature type(s) {untested} used in schema")
            )
        _raise_if(problems)
        return self

    @model_validator(mode="after")
    def _bandit_reward_has_values(self) -> Params:
        """A gaussian bandit is rewarded with each answer's business value: the four cells must be set."""
        if self.deploy.bandit.reward == "gaussian" and not self.business_value.configured:
            _raise_if(
                [
                    (
                        "deploy.bandit.reward",
                        "gaussian rewards each answer with its business value: set business_value's four cells, "
                        "or use bernoulli (1 when the decision was right)",
                    )
                ]
            )
        return self

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


_PARAMS = TypeAdapter(Params)
_UNIONS = (Union, types.UnionType)
_SECTIONS = [f.name for f in dataclasses.fields(Params) if f.name not in ("source_file", "raw")]
# Keys that were valid once: say where they went instead of only "unknown key".
_MOVED = {
    ("train", "model"): (
        f"moved: each train.search_space entry names its estimator as `model: <{' | '.join(ESTIMATORS)}>`"
    ),
    ("gate", "max_brier"): (
        "replaced by gate.min_brier_skill, the Brier skill score against the base rate (1 - brier / brier of "
        "always predicting the base rate; 0 = no better than that): an absolute Brier fits only one base rate "
        "(0.06 passed a model worse than the constant 3% forecast and failed any good model at 25%)"
    ),
}

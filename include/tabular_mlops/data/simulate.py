"""Seeded production-data simulator for the credit-risk example.

Each day is generated from its own seed (global seed + day), so the same seed and dates give the same rows
whatever range is asked for. Scenarios switch on from a given date and model what happens in production:
distribution shift, changed relationships, changed base rate, and upstream data-quality faults.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd

from tabular_mlops.core.config import SchemaConfig

DRIFT_SCENARIOS = ("stable", "covariate_shift", "covariate_harmful", "concept_drift", "label_drift")
QUALITY_SCENARIOS = (
    "null_burst",
    "out_of_range",
    "unseen_category",
    "missing_column",
    "renamed_column",
    "empty_day",
    "duplicate_ids",
)
SCENARIOS = DRIFT_SCENARIOS + QUALITY_SCENARIOS

# Share of covariate_harmful's applicants with 16-30 open accounts (stable days: Poisson(5), hardly ever above 15).
HARMFUL_SHARE = 0.5

HOME = ["RENT", "OWN", "MORTGAGE", "OTHER"]
HOME_P = [0.45, 0.15, 0.38, 0.02]
PURPOSE = [
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
]
PURPOSE_P = [0.40, 0.22, 0.10, 0.10, 0.06, 0.04, 0.08]
REGION = ["north", "south", "east", "west", "central"]
REGION_P = [0.22, 0.24, 0.18, 0.20, 0.16]


def day_seed(seed: int, day: dt.date) -> int:
    return zlib.crc32(f"{seed}:{day.isoformat()}".encode())


def _default_logit(df: pd.DataFrame, concept_drift: bool) -> np.ndarray:
    income_k = df["income"].fillna(50_000).to_numpy() / 1000.0
    emp = df["employment_length"].fillna(3.0).to_numpy()
    dti = df["debt_to_income"].to_numpy()
    hist = df["credit_history_length"].to_numpy()
    accounts = df["num_open_accounts"].to_numpy()
    purpose_risk = df["loan_purpose"].map({"small_business": 0.8, "medical": 0.4}).fillna(0.0).to_numpy()
    renters = (df["home_ownership"] == "RENT").to_numpy() * 0.3
    if concept_drift:
        # Same applicants, different world: debt load stops mattering, young thin files become risky.
        return (
            -3.6
            - 0.004 * (income_k - 50)
            + 0.2 * (dti - 0.35)
            - 0.02 * emp
            - 0.12 * (hist - 10)
            + 0.04 * (accounts - 5)
            + 1.2 * (df["age"].to_numpy() < 28)
            + purpose_risk
        )
    return (
        -3.5
        - 0.025 * (income_k - 50)
        + 4.5 * (dti - 0.35)
        - 0.06 * emp
        - 0.05 * (hist - 10)
        + 0.06 * (accounts - 5)
        # Many open accounts weigh ever more (hardly any stable applicant has more than 15: covariate_harmful's do).
        + 0.15 * np.clip(accounts - 15, 0, None)
        - 0.5 * df["has_smartphone"].to_numpy()
        + purpose_risk
        + renters
    )


def generate_day(
    day: dt.date,
    rows: int,
    seed: int,
    scenario: str = "stable",
) -> pd.DataFrame:
    """Generate one day of loan applications (with their eventual labels) in the example schema."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(day_seed(seed, day))
    if scenario == "empty_day":
        rows = 0
    # covariate_harmful: covariate_shift's applicants, half of them with more open accounts than any the model
    # trained on (P(default | x) unchanged): the model extrapolates, flat beyond what it saw, where risk still rises.
    shifted = scenario in ("covariate_shift", "covariate_harmful")
    income_mean = 65_000 if shifted else 50_000
    age_mean = 32 if shifted else 35
    smartphone_p = 0.95 if shifted else 0.70

    sigma = 0.5
    income = rng.lognormal(np.log(income_mean) - sigma**2 / 2, sigma, rows).round(2)
    age = np.clip(rng.normal(age_mean, 10, rows), 18, 85).astype(int)
    employment = np.minimum(rng.exponential(5.0, rows), 45).round(1)
    employment[rng.random(rows) < 0.02] = np.nan
    income[rng.random(rows) < 0.01] = np.nan
    seconds = np.sort(rng.integers(0, 86_400, rows))
    start = dt.datetime.combine(day, dt.time())
    df = pd.DataFrame(
        {
            "application_id": [f"{day:%Y%m%d}-{i:07d}" for i in range(rows)],
            "applied_at": [start + dt.timedelta(seconds=int(s)) for s in seconds],
            "income": income,
            "age": age,
            "has_smartphone": (rng.random(rows) < smartphone_p).astype(int),
            "employment_length": employment,
            "loan_amount": np.clip(rng.lognormal(np.log(10_000), 0.6, rows), 500, 100_000).round(2),
            "debt_to_income": np.clip(rng.beta(2, 5, rows) * 1.2, 0, 3).round(4),
            "credit_history_length": np.clip((age - 18) * rng.uniform(0.3, 1.0, rows), 0, 70).round(1),
            "num_open_accounts": np.clip(rng.poisson(5, rows), 0, 60),
            "home_ownership": rng.choice(HOME, rows, p=HOME_P),
            "loan_purpose": rng.choice(PURPOSE, rows, p=PURPOSE_P),
            "region": rng.choice(REGION, rows, p=REGION_P),
        }
    )
    if scenario == "covariate_harmful":
        beyond = rng.random(rows) < HARMFUL_SHARE
        df.loc[beyond, "num_open_accounts"] = rng.integers(16, 31, int(beyond.sum()))
    logit = _default_logit(df, concept_drift=scenario == "concept_drift")
    if scenario == "label_drift":
        logit = logit + 1.2  # base default rate from a few percent to several times that
    df["defaulted"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return _inject_quality_fault(df, scenario, rng)


def _inject_quality_fault(df: pd.DataFrame, scenario: str, rng: np.random.Generator) -> pd.DataFrame:
    n = len(df)
    if n == 0:
        return df
    if scenario == "null_burst":
        df.loc[rng.random(n) < 0.4, "income"] = np.nan
    elif scenario == "out_of_range":
        df.loc[rng.random(n) < 0.05, "age"] = 150
    elif scenario == "unseen_category":
        df.loc[rng.random(n) < 0.1, "region"] = "atlantis"
    elif scenario == "missing_column":
        # Upstream stopped sending the column: it arrives empty.
        df["debt_to_income"] = np.nan
    elif scenario == "renamed_column":
        df["annual_income"] = df.pop("income")
    elif scenario == "duplicate_ids":
        dup = rng.random(n) < 0.05
        df.loc[dup, "application_id"] = df["application_id"].iloc[0]
    return df


def scenario_for(day: dt.date, scenario: str, scenario_start: dt.date | None) -> str:
    """The scenario in force on `day`: `stable` before `scenario_start`, the named one from it on."""
    if scenario_start is not None and day < scenario_start:
        return "stable"
    return scenario


def check_example_schema(schema: SchemaConfig) -> None:
    """The simulator writes the example credit schema; refuse to write it into another table config."""
    expected = {"income", "age", "has_smartphone", "loan_purpose", "region"}
    missing = expected - set(schema.feature_names)
    if missing:
        raise ValueError(
            f"the simulator writes the example credit-risk schema, but params.yaml schema.features "
            f"lacks {sorted(missing)}; bring your own data into table '{schema.table}' instead"
        )

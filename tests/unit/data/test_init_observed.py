"""`tabular-mlops init` proposes what it saw on a low-volume panel table (about 11 rows a night, like the wage
panel a user brought): identifiers, row numbers and time components left out with the reason; null limits, the
monitoring volume and tolerance, the threshold rule and the PR AUC floor derived from the data; counts open above,
0/1 flags as {0, 1}, ranges that admit plausible unseen values; no live simulated source; names YAML must quote."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from tabular_mlops.cli import main
from tabular_mlops.core.config import ConfigError, load_params

from tests.support.project import REPO

DAYS, START = 60, dt.date(1987, 1, 1)
HOURS = "hours: week"  # a name YAML reads as a mapping unless it is quoted


def _panel(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(DAYS):
        day = dt.datetime.combine(START + dt.timedelta(days=d), dt.time(9))
        rows += [day + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 600, rng.poisson(11))]
    n = len(rows)
    age = rng.integers(25, 65, n)
    visits = np.minimum(rng.poisson(2.5, n) + (rng.random(n) < 0.05) * rng.integers(10, 40, n), 60)
    hours = rng.normal(40, 8, n).round(1)
    hours[rng.random(n) < 0.286] = np.nan
    married = rng.integers(0, 2, n)
    union = rng.random(n) < 1 / (1 + np.exp(-(-0.8 + 0.02 * (age - 40) + 0.4 * married)))
    return pd.DataFrame({
        "Unnamed: 0": np.arange(n),
        "case_id": [f"c{i:05d}" for i in range(n)],
        "nr": rng.integers(1, 400, n),
        "year": [t.year for t in rows],
        "interviewed_at": rows,
        "age": age,
        "visits": visits,
        "married": married,
        HOURS: hours,
        "union": np.where(union, "yes", "no"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def proposed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel")
    url = f"sqlite:///{folder / 'panel.db'}"
    frame = _panel()
    frame.to_sql("wage_panel", sa.create_engine(url), index=False)
    out = folder / "params.yaml"
    argv = ["--params", str(REPO / "params.yaml"), "init", "--source-url", url, "--table", "wage_panel"]
    assert main([*argv, "--target", "union", "--id-column", "case_id", "--out", str(out)]) == 0
    return {"params": load_params(out), "text": out.read_text(), "frame": frame}


def test_identifiers_row_numbers_and_time_components_are_left_out_with_the_reason(proposed):
    s, text = proposed["params"].schema, proposed["text"]
    assert set(s.feature_names) == {"age", "visits", "married", HOURS}
    assert "#   Unnamed: 0: an unnamed index column" in text
    assert "#   nr: named like an identifier or row number" in text
    assert "#   year: a time component by its name" in text


def test_types_follow_what_the_values_are(proposed):
    s = proposed["params"].schema
    visits = s.feature("visits")
    assert (visits.type, visits.min, visits.max) == ("int", 0, None), "a count: no upper limit"
    married = s.feature("married")
    assert (married.type, married.min, married.max) == ("int", 0, 1), "a 0/1 flag stays {0, 1}"
    age = s.feature("age")
    assert age.min <= 20 and age.max >= 69, "a 69-year-old is plausible when the oldest seen is 64"
    assert s.feature(HOURS).nullable


def test_limits_and_volume_follow_the_observed_rows(proposed):
    params, frame = proposed["params"], proposed["frame"]
    missing = frame[HOURS].isna().mean()
    assert params.validate.max_null_fraction >= missing + 0.05, (
        "a night like the profiled ones is not quarantined"
    )
    assert params.monitor.max_missing_rate == params.validate.max_null_fraction
    daily = frame.groupby(frame["interviewed_at"].dt.date).size()
    monitor = params.monitor
    assert monitor.min_rows <= 0.5 * monitor.window_days * daily.median(), "the window reaches min_rows"
    assert monitor.min_rows >= 30
    assert monitor.row_count_tolerance >= 18 / 11 - 1, "18 rows against a mean of 11 is Poisson noise"
    assert not params.simulate.live_source
    assert params.dags.schedules.ingest is not None, "a schedule the user can backfill"


def test_thresholds_are_read_against_the_base_rate(proposed):
    params, frame = proposed["params"], proposed["frame"]
    base = (frame["union"] == "yes").mean()
    rule = params.evaluate.decision_threshold
    assert rule.rule == "target_flag_rate" and rule.rate == pytest.approx(base, abs=1e-4)
    assert base < params.gate.min_pr_auc < 1


def test_a_name_that_needs_quoting_loads_as_written(proposed):
    raw = yaml.safe_load(proposed["text"])
    assert HOURS in raw["schema"]["features"]


def test_a_null_ingestion_schedule_is_refused_with_how_to_pause(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["dags"]["schedules"]["ingest"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError, match=r"dags.schedules.ingest.*cannot be backfilled.*pause"):
        load_params(tmp_path / "params.yaml")


def test_business_value_is_left_for_the_user_to_fill_in(proposed):
    """The example's credit figures mean nothing for another table: the proposal leaves every cell null, with a
    comment, and the file loads (no value is reported until they are set)."""
    assert not proposed["params"].business_value.configured
    # Without business value, the bandit is rewarded by the right decision (gaussian would refuse to load).
    assert proposed["params"].deploy.bandit.reward == "bernoulli"
    for cell in ("true_negative", "false_negative", "false_positive", "true_positive"):
        assert f"  {cell}: null  # init: yours to fill in" in proposed["text"]


def test_business_value_is_all_four_cells_or_none(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("  false_positive: -40\n", "  false_positive: null\n")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"business_value\.false_positive: .*set every cell's value or none"
    ):
        load_params(path)
    example = load_params(REPO / "params.yaml").business_value
    assert example.configured and example.false_negative < 0 < example.true_negative

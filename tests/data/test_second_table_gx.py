"""The real GX suite on the second table: integer state codes pass as integers, an unseen code and a missing
target are reported with real values (never `[None, None, None]`)."""

from __future__ import annotations

import datetime as dt

import pytest
from tabular_mlops.data import extract
from tabular_mlops.data.validate import validate_batch
from tabular_mlops.store import source_db

from tests import second_table
from tests.support.project import make_project
from tests.unit.data.test_target_and_columns import params_with


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("gx2") / "project")
    params = params_with(project)
    engine = second_table.write(f"sqlite:///{project / 'survey.db'}", days=1, rows=200)
    start = dt.datetime.combine(second_table.START, dt.time())
    raw = source_db.read_window(engine, params.schema, start, start + dt.timedelta(days=1))
    return project, params, extract.conform(raw, params.schema)


def test_integer_codes_and_a_mapped_yes_no_target_pass(survey):
    project, params, batch = survey
    outcome = validate_batch(batch, params.schema, params.validate, project / params.paths.expectations_dir)
    assert outcome.success, outcome.failures


def test_an_unseen_code_is_named_as_the_integer_it_is(survey):
    project, params, batch = survey
    bad = batch.copy()
    bad.loc[:9, "state_fips"] = 99
    outcome = validate_batch(bad, params.schema, params.validate, project / params.paths.expectations_dir)
    assert not outcome.success
    [failure] = [f for f in outcome.failures if "state_fips" in f]
    assert "to_be_in_set" in failure and "[99, 99, 99]" in failure


def test_a_missing_target_says_how_much_not_none_none_none(survey):
    project, params, batch = survey
    bad = batch.copy()
    bad.loc[:19, "moved_out"] = None
    outcome = validate_batch(bad, params.schema, params.validate, project / params.paths.expectations_dir)
    [failure] = [f for f in outcome.failures if "moved_out" in f]
    assert "10.0% unexpected" in failure and "None" not in failure


def test_regenerating_the_suite_for_your_table_leaves_no_other_tables_names(survey, capsys):
    """After `init`, `python -m tabular_mlops.data.validate` writes your table's suite and removes the example's
    (its file names carry the example's table), and the real GX project still validates your batches."""
    from tabular_mlops.data.validate import write_suite

    project, params, batch = survey
    gx_dir = project / params.paths.expectations_dir
    names = lambda: sorted(p.name for p in (gx_dir / "gx").glob("*/*.json"))  # noqa: E731
    assert any(
        n.startswith("loan_applications_batch") for n in names()
    )  # the example's, copied with the repo
    write_suite(params.schema, params.validate, gx_dir)
    assert names() == [
        "household_survey_batch.json",
        "household_survey_batch_checkpoint.json",
        "household_survey_batch_validation.json",
    ]
    assert "removed loan_applications_batch_checkpoint" in capsys.readouterr().out
    assert validate_batch(batch, params.schema, params.validate, gx_dir).success

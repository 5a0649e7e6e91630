"""The real GX checkpoint passes the stable scenario and rejects every data-quality scenario of the simulator."""

import datetime as dt
from pathlib import Path

import pytest
from tabular_mlops.data import source
from tabular_mlops.data.ingest import extract_interval, validate_extracted
from tabular_mlops.data.simulate import QUALITY_SCENARIOS, generate_day
from tabular_mlops.data.validate import ValidationFailedError

from tests.conftest import make_project

EXPECTED_COLUMN = {
    "null_burst": "income",
    "out_of_range": "age",
    "unseen_category": "region",
    "missing_column": "debt_to_income",
    "renamed_column": "income",
    "empty_day": "row_count",
    "duplicate_ids": "application_id",
}
DAY = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def gx_project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("gx") / "project")


def _ingest(project: Path, params, scenario: str, index: int) -> dict:
    day = DAY + dt.timedelta(days=index)
    url = f"sqlite:///{project / 'src.db'}"
    source.write_day(source.connect(url), params.schema, day, generate_day(day, 400, 21, scenario))
    night = day + dt.timedelta(days=params.schema.label_delay_days)
    extracted = extract_interval(params, project, url, night, night + dt.timedelta(days=1))
    return validate_extracted(params, project, extracted)


def test_stable_batch_is_published_with_data_docs(gx_project, repo_params):
    out = _ingest(gx_project, repo_params, "stable", 0)
    published = Path(out["published"][0])
    assert published.exists() and published.parent == gx_project / "data"
    assert (published.parent / f"{published.stem}.gx.json").exists()
    assert out["data_docs"] and Path(out["data_docs"].removeprefix("file://")).exists()


@pytest.mark.parametrize("scenario", QUALITY_SCENARIOS)
def test_quality_scenarios_are_quarantined_with_reasons(gx_project, repo_params, scenario):
    index = 1 + QUALITY_SCENARIOS.index(scenario)
    with pytest.raises(ValidationFailedError) as err:
        _ingest(gx_project, repo_params, scenario, index)
    message = str(err.value)
    column = EXPECTED_COLUMN[scenario]
    assert (column in message) if column != "row_count" else ("row_count" in message)
    day = DAY + dt.timedelta(days=index)
    name = f"applied_date={day.isoformat()}.parquet"
    assert not (gx_project / "data" / name).exists()
    quarantined = list((gx_project / "quarantine").glob(f"*/{name}"))
    assert len(quarantined) == 1
    assert (quarantined[0].parent / "validation_result.json").exists()

"""`tabular-mlops init` on a table nobody prepared: the proposed params file loads, says what the data says, and
never overwrites a file without --write."""

from __future__ import annotations

import pytest
import yaml
from tabular_mlops.cli import main
from tabular_mlops.core.config import load_params

from tests import second_table
from tests.support.project import REPO

EXCLUDE = ["--exclude", "interviewer", "--exclude", "survey_weight"]


@pytest.fixture(scope="module")
def survey_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('survey') / 'survey.db'}"
    second_table.write(url, days=6, rows=250)
    return url


def _init(url, *args):
    argv = ["--params", str(REPO / "params.yaml"), "init", "--source-url", url, "--table", second_table.TABLE]
    return main([*argv, *args])


def test_init_proposes_a_schema_that_fits_the_table(survey_url, tmp_path, capsys):
    out = tmp_path / "params.yaml"
    assert _init(survey_url, "--target", "moved_out", *EXCLUDE, "--out", str(out)) == 0
    params = load_params(out)
    s = params.schema
    assert (s.table, s.id_column, s.timestamp_column) == (
        second_table.TABLE,
        second_table.ID,
        second_table.TIME,
    )
    assert (s.target_column, s.positive_label, s.negative_labels) == ("moved_out", "yes", ("no",))
    state = s.feature("state_fips")
    assert state.integer_codes and state.categories == second_table.STATES and not state.nullable
    size = s.feature("household_size")
    assert size.type == "int" and not size.nullable and size.min <= 1 and size.max is None, (
        "a count: open above"
    )
    rent = s.feature("monthly_rent")
    assert rent.type == "float" and rent.nullable and rent.min == 0
    tenure = s.feature("tenure")
    assert tenure.is_categorical and tenure.nullable and set(tenure.categories) == set(second_table.TENURE)
    assert set(s.feature_names) == {
        "state_fips",
        "household_size",
        "monthly_rent",
        "years_at_address",
        "tenure",
    }
    assert params.dags.start_date == second_table.START.isoformat()
    assert params.registry.model_name == second_table.TABLE and params.monitor.key_features == ()
    text = out.read_text()
    assert "free_text_note: text with" in text, "a left-out column is named with the reason"
    assert "Base rate of the positive label: 0.2" in text
    report = yaml.safe_load(capsys.readouterr().out)
    assert 0.15 < report["base_rate"] < 0.35 and report["written"] == str(out)
    # Everything but the schema and the keys that follow from it is the project's params.yaml, comments included.
    assert _block(text, "train:") == _block((REPO / "params.yaml").read_text(), "train:")
    # The service answers in words made from the target, not the example's approve / decline.
    serving = _block((REPO / "params.yaml").read_text(), "serving:").splitlines()
    assert [line for line in _block(text, "serving:").splitlines() if "risk_decision" not in line] == [
        line for line in serving if "risk_decision" not in line
    ]
    assert (params.serving.high_risk_decision, params.serving.low_risk_decision) == (
        "moved_out_likely",
        "moved_out_unlikely",
    )
    gate = _block((REPO / "params.yaml").read_text(), "gate:").splitlines()
    assert [line for line in _block(text, "gate:").splitlines() if "min_pr_auc" not in line] == [
        line for line in gate if "min_pr_auc" not in line
    ], "in gate only min_pr_auc follows from the base rate"


def _block(text: str, section: str) -> str:
    return text.split(f"\n{section}\n", 1)[1].split("\n\n", 1)[0]


def test_the_positive_label_is_recognised_without_the_flag(survey_url, tmp_path):
    out = tmp_path / "params.yaml"
    assert _init(survey_url, "--target", "moved_out", "--out", str(out)) == 0
    assert load_params(out).schema.positive_label == "yes"


def test_out_never_overwrites_and_write_keeps_the_other_sections(survey_url, tmp_path, capsys):
    out = tmp_path / "params.yaml"
    assert _init(survey_url, "--target", "moved_out", *EXCLUDE, "--out", str(out)) == 0
    edited = out.read_text().replace("  min_roc_auc: 0.70", "  min_roc_auc: 0.61")
    out.write_text(edited)
    assert _init(survey_url, "--target", "moved_out", "--out", str(out)) == 2
    assert "pass --write" in capsys.readouterr().err and out.read_text() == edited
    assert (
        _init(survey_url, "--target", "moved_out", *EXCLUDE, "--label-delay-days", "3", "--write", str(out))
        == 0
    )
    params = load_params(out)
    assert params.gate.min_roc_auc == 0.61 and params.schema.label_delay_days == 3
    assert params.dags.start_date == "2019-03-04", "the first night whose labels have matured"
    # The example's credit words do not follow the schema into another table.
    assert params.wording.score_text("moved_out") == "probability that moved_out is yes"
    assert "loan" not in out.read_text().split("wording:")[1].split("\n\n")[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "moved_out", "--positive-label", "maybe"], "--positive-label 'maybe' does not occur"),
        (["--target", "nope"], "column(s) ['nope'] are not in table"),
        ([], "cannot tell the target column"),
    ],
)
def test_what_init_cannot_tell_it_asks_for(survey_url, tmp_path, capsys, args, message):
    out = tmp_path / "params.yaml"
    assert _init(survey_url, *args, "--out", str(out)) == 2
    assert message in capsys.readouterr().err and not out.exists()
    assert not list(tmp_path.iterdir()), "nothing half-written"


def test_a_time_column_stored_as_iso_text_is_found_without_the_flag(tmp_path):
    """SQLite keeps times as TEXT when the table says so: init finds the column by its values, not only by type."""
    import sqlite3

    db = tmp_path / "pumps.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE readings (reading_id TEXT, read_at TEXT, vibration REAL, breakdown TEXT)")
        rows = [
            (
                f"R{i:03d}",
                f"2023-04-{1 + i // 20:02d} {i % 24:02d}:15:00",
                1.0 + i % 7,
                "Y" if i % 5 == 0 else "N",
            )
            for i in range(200)
        ]
        con.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
    out = tmp_path / "params.yaml"
    argv = [
        "--params",
        str(REPO / "params.yaml"),
        "init",
        "--source-url",
        f"sqlite:///{db}",
        "--table",
        "readings",
    ]
    assert main([*argv, "--target", "breakdown", "--out", str(out)]) == 0
    schema = load_params(out).schema
    assert (schema.timestamp_column, schema.id_column, schema.positive_label) == (
        "read_at",
        "reading_id",
        "Y",
    )
    assert schema.feature_names == ["vibration"]

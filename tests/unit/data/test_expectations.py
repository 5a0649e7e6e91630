import shutil

from tabular_mlops.data.expectations import expectation_specs
from tabular_mlops.data.validate import _stored_checkpoint, gx_context

from tests.support.project import REPO


def test_stored_suite_matches_the_schema_config(repo_params, tmp_path):
    """The suite in include/expectations is what params.yaml implies (regenerate: python -m tabular_mlops.data.validate)."""
    rel = repo_params.paths.expectations_dir
    shutil.copytree(REPO / rel, tmp_path / rel, ignore=shutil.ignore_patterns("uncommitted"))
    assert (
        _stored_checkpoint(
            repo_params.schema,
            repo_params.validate,
            gx_context(tmp_path / repo_params.paths.expectations_dir),
        )
        is not None
    )


def test_suite_covers_every_schema_rule(repo_params):
    specs = expectation_specs(repo_params.schema, repo_params.validate)
    kinds = {(k, kw.get("column")) for k, kw in specs}
    for f in repo_params.schema.features:
        assert ("ExpectColumnValuesToNotBeNull", f.name) in kinds
        if f.is_categorical:
            assert ("ExpectColumnValuesToBeInSet", f.name) in kinds
        elif f.min is not None:
            assert ("ExpectColumnValuesToBeBetween", f.name) in kinds
    assert ("ExpectColumnValuesToBeUnique", repo_params.schema.id_column) in kinds
    assert ("ExpectColumnValuesToBeInSet", repo_params.schema.target_column) in kinds
    nullable = next(
        kw for k, kw in specs if k == "ExpectColumnValuesToNotBeNull" and kw["column"] == "income"
    )
    assert nullable["mostly"] == 1 - repo_params.validate.max_null_fraction

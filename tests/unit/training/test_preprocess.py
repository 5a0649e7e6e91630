import datetime as dt

import pytest
from tabular_mlops.core.atomic_files import atomic_write_parquet
from tabular_mlops.data.extract import conform
from tabular_mlops.data.simulate import generate_day
from tabular_mlops.training.preprocess import split_window


def _snapshots(root, params, days):
    for i in range(days):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        atomic_write_parquet(
            root / "data" / f"day={day}.parquet", conform(generate_day(day, 50, 1), params.schema)
        )


def test_window_ends_at_the_newest_snapshot_with_a_time_holdout(tmp_path, repo_params):
    _snapshots(tmp_path, repo_params, repo_params.preprocess.window_days + 5)
    window = split_window(repo_params, tmp_path)
    assert window["snapshots"] == repo_params.preprocess.window_days
    assert window["holdout_rows"] == 50 * repo_params.preprocess.holdout_days
    import pandas as pd

    train = pd.read_parquet(tmp_path / "processed" / "train.parquet")
    holdout = pd.read_parquet(tmp_path / "processed" / "holdout.parquet")
    assert train["applied_at"].max() < holdout["applied_at"].min()


def test_no_snapshots_is_a_clear_error(tmp_path, repo_params):
    with pytest.raises(FileNotFoundError, match="no validated snapshots"):
        split_window(repo_params, tmp_path)


def test_a_snapshot_out_of_order_gives_the_same_bytes(tmp_path, repo_params):
    """Row order comes from (timestamp, id), not from how a day's file happens to be written."""
    import pandas as pd

    outputs = []
    for name, shuffle in (("sorted", False), ("shuffled", True)):
        root = tmp_path / name
        _snapshots(root, repo_params, repo_params.preprocess.window_days)
        if shuffle:
            path = sorted((root / "data").glob("*.parquet"))[-2]
            pd.read_parquet(path).sample(frac=1, random_state=0).to_parquet(path, index=False)
        split_window(repo_params, root)
        outputs.append([(root / "processed" / f).read_bytes() for f in ("train.parquet", "holdout.parquet")])
    assert outputs[0] == outputs[1]


def test_a_row_outside_its_snapshot_day_is_a_clear_error(tmp_path, repo_params):
    import pandas as pd

    _snapshots(tmp_path, repo_params, repo_params.preprocess.window_days)
    path = sorted((tmp_path / "data").glob("*.parquet"))[-1]
    day = pd.read_parquet(path)
    day.loc[0, "applied_at"] = day.loc[0, "applied_at"] - pd.Timedelta(days=3)
    day.to_parquet(path, index=False)
    with pytest.raises(ValueError, match=r"day=.*1 row\(s\) with 'applied_at' missing or outside"):
        split_window(repo_params, tmp_path)
    assert not (tmp_path / "processed" / "train.parquet").exists()


def test_a_gap_in_the_history_still_gives_a_full_window(tmp_path, repo_params):
    """Months without snapshots (a stack stopped, then a live night): the window counts snapshots, not days."""
    _snapshots(tmp_path, repo_params, repo_params.preprocess.window_days)
    late = dt.date(2026, 10, 28)
    atomic_write_parquet(
        tmp_path / "data" / f"day={late}.parquet",
        conform(generate_day(late, 50, 1), repo_params.schema),
    )
    window = split_window(repo_params, tmp_path)
    assert (
        window["window_end"] == late.isoformat() and window["snapshots"] == repo_params.preprocess.window_days
    )
    assert window["train_rows"] == 50 * (
        repo_params.preprocess.window_days - repo_params.preprocess.holdout_days
    )


def test_each_day_is_one_row_group_and_a_rerun_gives_the_same_bytes(tmp_path, repo_params):
    import pyarrow.parquet as pq

    _snapshots(tmp_path, repo_params, repo_params.preprocess.window_days)
    split_window(repo_params, tmp_path)
    files = [tmp_path / "processed" / f for f in ("train.parquet", "holdout.parquet")]
    first = [f.read_bytes() for f in files]
    holdout = pq.ParquetFile(files[1])
    assert holdout.num_row_groups == repo_params.preprocess.holdout_days
    assert {holdout.metadata.row_group(i).num_rows for i in range(holdout.num_row_groups)} == {50}
    split_window(repo_params, tmp_path)
    assert [f.read_bytes() for f in files] == first

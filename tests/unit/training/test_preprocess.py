import datetime as dt

import pandas as pd
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


def _late_day(root, params, day):
    atomic_write_parquet(
        root / "data" / f"day={day}.parquet", conform(generate_day(day, 50, 1), params.schema)
    )


def test_a_live_day_months_after_the_history_is_left_out_not_spanned(tmp_path, repo_params):
    """The first training of a fresh `make run`: 45 seeded days, then today's live day eight months later. The
    window is the 45 contiguous days (what the model card's "45 daily snapshots" says), the live day is named as
    left out, never a 2026-01-02..2026-10-28 window."""
    pp = repo_params.preprocess
    _snapshots(tmp_path, repo_params, pp.window_days)
    late = dt.date(2026, 10, 28)
    _late_day(tmp_path, repo_params, late)
    window = split_window(repo_params, tmp_path)
    assert (window["window_start"], window["window_end"]) == ("2026-01-01", "2026-02-14")
    assert window["snapshots"] == pp.window_days
    assert window["train_rows"] == 50 * (pp.window_days - pp.holdout_days)
    assert window["gap_before"] is None
    assert window["left_out"].startswith(
        "2026-10-28..2026-10-28: 1 snapshot(s) after the gap 2026-02-15..2026-10-27"
    )


def test_once_enough_days_follow_the_gap_the_window_starts_after_it(tmp_path, repo_params):
    pp = repo_params.preprocess
    _snapshots(tmp_path, repo_params, pp.window_days)
    late = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(pp.fewest_days())]
    for day in late:
        _late_day(tmp_path, repo_params, day)
    window = split_window(repo_params, tmp_path)
    assert (window["window_start"], window["window_end"]) == (str(late[0]), str(late[-1]))
    assert window["snapshots"] == len(late) and window["left_out"] is None
    assert window["gap_before"] == "2026-02-15..2026-09-30 (228 days)"
    train = pd.read_parquet(tmp_path / "processed" / "train.parquet")
    assert train["applied_at"].min() >= pd.Timestamp(late[0])


def test_a_quarantined_night_or_two_is_stepped_over(tmp_path, repo_params):
    """Up to max_gap_days missing days (quarantined nights) do not cut the window."""
    pp = repo_params.preprocess
    _snapshots(tmp_path, repo_params, pp.window_days + 2)
    for day in ("2026-01-20", "2026-01-21"):
        (tmp_path / "data" / f"day={day}.parquet").unlink()
    window = split_window(repo_params, tmp_path)
    assert window["snapshots"] == pp.window_days and window["window_start"] == "2026-01-01"
    assert window["gap_before"] is None and window["left_out"] is None


def test_min_window_days_must_leave_room_for_the_holdout(repo_params):
    from dataclasses import asdict

    from tabular_mlops.core.config.data_sections import PreprocessConfig

    fields = {**asdict(repo_params.preprocess), "min_window_days": repo_params.preprocess.holdout_days}
    with pytest.raises(ValueError, match="min_window_days"):
        PreprocessConfig(**fields)


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


def test_the_model_card_names_the_gap_and_what_was_left_out(tmp_path, repo_params):
    from tabular_mlops.model.model_tests import GateResult
    from tabular_mlops.training.modelcard import render_model_card

    _snapshots(tmp_path, repo_params, repo_params.preprocess.window_days)
    _late_day(tmp_path, repo_params, dt.date(2026, 10, 28))
    info = {
        "window": split_window(repo_params, tmp_path),
        "best_hyperparams": {"model": "logistic_regression", "C": 1.0},
        "best_candidate": 0,
        "candidates": [],
        "run_id": "r1",
    }
    card = render_model_card(repo_params, "1", info, {}, {}, [GateResult("thresholds", True, "ok")], True)
    assert "2026-01-01 .. 2026-02-14 (45 daily snapshots)" in card
    assert (
        "- Left out: 2026-10-28..2026-10-28: 1 snapshot(s) after the gap 2026-02-15..2026-10-27 (255 days)"
        in card
    )

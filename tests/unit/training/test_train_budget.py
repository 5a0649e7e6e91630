import numpy as np
import pandas as pd
from tabular_mlops.training.train import budget_sample


def _window(repo_params, days=5, rows=4000):
    rng = np.random.default_rng(0)
    schema = repo_params.schema
    stamps = pd.to_datetime("2026-01-01") + pd.to_timedelta(
        np.sort(rng.integers(0, days * 86400, days * rows)), "s"
    )
    return pd.DataFrame(
        {
            schema.timestamp_column: stamps,
            schema.target_column: (rng.random(days * rows) < 0.04).astype(int),
            "x": rng.normal(size=days * rows),
        }
    )


def test_no_budget_or_a_larger_one_keeps_every_row(repo_params):
    df = _window(repo_params)
    assert budget_sample(df, None, repo_params.schema, 1) is df
    assert budget_sample(df, len(df), repo_params.schema, 1) is df


def test_budget_keeps_each_day_and_the_base_rate_in_time_order(repo_params):
    schema = repo_params.schema
    df = _window(repo_params)
    sample = budget_sample(df, 2000, schema, 7)
    assert abs(len(sample) - 2000) <= 10  # rounding per (day, label) group
    assert sample[schema.timestamp_column].is_monotonic_increasing
    day = lambda d: d[schema.timestamp_column].dt.normalize()  # noqa: E731
    share_full = day(df).value_counts(normalize=True).sort_index()
    share_sample = day(sample).value_counts(normalize=True).sort_index()
    assert np.allclose(share_full, share_sample, atol=0.005)
    assert abs(sample[schema.target_column].mean() - df[schema.target_column].mean()) < 0.002
    # The same seed draws the same rows; another seed draws others.
    assert sample.index.equals(budget_sample(df, 2000, schema, 7).index)
    assert not sample.index.equals(budget_sample(df, 2000, schema, 8).index)


def _part(tmp_path, df, schema):
    """`df` as a part written like preprocess writes one: one row group per day."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        for _, day in df.groupby(df[schema.timestamp_column].dt.normalize()):
            writer.write_table(pa.Table.from_pandas(day, preserve_index=False), row_group_size=len(day))
    return path


def test_the_budget_read_day_by_day_is_the_sample_of_the_whole_part(tmp_path, repo_params):
    from tabular_mlops.training.train import read_budget

    schema = repo_params.schema
    df = _window(repo_params)
    for column in schema.feature_names:  # read_budget reads the schema's columns
        df[column] = "RENT" if column == "home_ownership" else 1.0
    path = _part(tmp_path, df, schema)
    for budget, seed in ((2000, 7), (5555, 42)):
        whole = budget_sample(df, budget, schema, seed)
        streamed, rows = read_budget(path, budget, schema, seed)
        assert rows == len(df)
        assert streamed[schema.timestamp_column].tolist() == whole[schema.timestamp_column].tolist()
        assert streamed[schema.target_column].tolist() == whole[schema.target_column].tolist()
    # Category columns come back as categoricals; no budget reads the whole part.
    everything, _ = read_budget(path, None, schema, 1)
    assert len(everything) == len(df) and everything["home_ownership"].dtype == "category"

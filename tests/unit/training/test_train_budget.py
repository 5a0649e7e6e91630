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

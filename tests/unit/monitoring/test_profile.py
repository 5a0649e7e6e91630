import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tabular_mlops.monitoring.drift import category_shares, column_drift, dataset_drift, ks_test, numeric_psi
from tabular_mlops.monitoring.reference_profile import (
    MISSING_LEVEL,
    SKETCH_POINTS,
    build_profile,
    level_counts,
    level_counts_and_missing,
    load_profile,
    numeric_profile,
    save_profile,
    sorted_quantiles,
)


def _with_missing(rng, values, share=0.05):
    values = values.astype(float)
    values[rng.random(len(values)) < share] = np.nan
    return values


def test_small_samples_give_scipys_exact_test():
    rng = np.random.default_rng(1)
    ref, cur = _with_missing(rng, rng.normal(0, 1, 3000)), rng.normal(0.1, 1, 800)
    ours = ks_test(numeric_profile(ref, 10), cur)
    theirs = stats.ks_2samp(ref[~np.isnan(ref)], cur)
    assert ours == (pytest.approx(theirs.statistic, abs=0), pytest.approx(theirs.pvalue, rel=1e-12))


def test_integer_column_at_scale_is_exact():
    # Few distinct values: every one is a sketch point, so the statistic is exactly scipy's.
    rng = np.random.default_rng(2)
    ref, cur = rng.poisson(4, 300_000).astype(float), rng.poisson(4.2, 200_000).astype(float)
    profile = numeric_profile(ref, 10)
    assert profile.exact and profile.ks_tolerance == 0.0
    statistic, p_value = ks_test(profile, cur)
    theirs = stats.ks_2samp(ref, cur)
    assert statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert p_value == pytest.approx(theirs.pvalue, rel=1e-6, abs=1e-300)


def test_continuous_column_at_scale_is_within_the_recorded_tolerance():
    rng = np.random.default_rng(3)
    ref = _with_missing(rng, rng.lognormal(10, 1, 400_000))
    for cur in (rng.lognormal(10, 1, 300_000), rng.lognormal(10.05, 1.1, 300_000)):
        profile = numeric_profile(ref, 10)
        assert not profile.exact and 0 < profile.ks_tolerance <= 2 / SKETCH_POINTS
        statistic, _ = ks_test(profile, cur)
        exact = stats.ks_2samp(ref[~np.isnan(ref)], cur).statistic
        assert abs(statistic - exact) <= profile.ks_tolerance


def test_psi_uses_reference_deciles_and_a_missing_bin():
    rng = np.random.default_rng(4)
    ref = _with_missing(rng, rng.normal(0, 1, 50_000), 0.1)
    cur = _with_missing(rng, rng.normal(0, 1, 50_000), 0.3)
    # Independent computation of the same definition.
    ok = ref[~np.isnan(ref)]
    edges = np.unique(np.quantile(ok, np.linspace(0, 1, 11)[1:-1]))

    def shares(x):
        counts = np.bincount(np.searchsorted(edges, x[~np.isnan(x)], side="right"), minlength=len(edges) + 1)
        return np.clip(np.append(counts, np.isnan(x).sum()) / len(x), 1e-4, None)

    r, c = shares(ref), shares(cur)
    assert numeric_psi(ref, cur, 10) == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)


def test_categories_counted_by_text_whatever_their_type():
    ref = pd.Series([1, 2, 2, None, 3] * 100, dtype="Int64")
    cur = pd.Series(["1", "2", "9", None] * 50, dtype=object)
    ref_c, cur_c, levels = category_shares(ref, cur)
    assert levels == ["1", "2", "3", "9", "<missing>"]
    assert ref_c.tolist() == [100, 200, 100, 0, 100] and cur_c.tolist() == [50, 50, 0, 50, 50]


def test_profile_round_trips_through_a_file_without_pickle(tmp_path, repo_params):
    import datetime as dt

    from tabular_mlops.data.simulate import generate_day

    reference = pd.concat(
        generate_day(dt.date(2026, 1, 1) + dt.timedelta(days=i), 2000, 4, "stable") for i in range(3)
    )
    current = generate_day(dt.date(2026, 2, 1), 2000, 4, "covariate_shift")
    schema, monitor = repo_params.schema, repo_params.monitor
    profile = build_profile(reference.assign(score=np.linspace(0, 1, len(reference))), schema, monitor)
    loaded = load_profile(save_profile(profile, tmp_path / "profile.npz"))
    assert set(loaded.columns) == {*schema.feature_names, "score"}
    assert dataset_drift(loaded, current, schema, monitor) == dataset_drift(
        reference, current, schema, monitor
    )
    # A file holding a pickled object is refused, not loaded.
    np.savez(tmp_path / "evil.npz", header=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError):
        load_profile(tmp_path / "evil.npz")


def test_profile_and_raw_reference_agree_column_by_column(repo_params):
    rng = np.random.default_rng(5)
    ref = pd.Series(_with_missing(rng, rng.normal(50, 10, 20_000)), name="x")
    cur = pd.Series(_with_missing(rng, rng.normal(52, 10, 20_000)), name="x")
    prof = numeric_profile(ref.to_numpy(), repo_params.monitor.psi_bins)
    for test in ("ks", "psi"):
        assert column_drift(ref, cur, "float", test, repo_params.monitor) == column_drift(
            prof, cur, "float", test, repo_params.monitor
        )


@pytest.mark.parametrize("distinct", [7, 50_000])  # ties on the decile edges; a sketch of a sample
def test_profile_read_off_one_sort_matches_its_definition(distinct):
    """The profile reads its distinct values, sketch, decile edges and bin counts off one sorted copy; each must be
    what its definition gives on the raw values (bins [edge_i-1, edge_i), missing values last)."""
    rng = np.random.default_rng(8)
    values = _with_missing(rng, rng.integers(0, distinct, 60_000).astype(float))
    prof = numeric_profile(values, 10)
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, 11)[1:-1]))
    bins = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    np.testing.assert_array_equal(prof.psi_edges, edges)
    np.testing.assert_array_equal(prof.psi_counts, np.append(bins, np.isnan(values).sum()))
    assert prof.missing == int(np.isnan(values).sum()) and prof.rows == len(values)
    if distinct <= SKETCH_POINTS:
        np.testing.assert_array_equal(prof.points, np.unique(present))
        assert prof.exact
    else:
        assert len(prof.points) <= SKETCH_POINTS and np.all(np.diff(prof.points) > 0)
    np.testing.assert_array_equal(prof.at_or_below, [np.sum(present <= p) for p in prof.points])


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 999, 60_001])
def test_quantiles_of_sorted_values_are_numpys_to_the_bit(n):
    """The profile's decile edges skip np.quantile's copy and partition of a sorted column; every quantile must be
    np.quantile's own value, bit for bit, with ties, infinities and signed zeros among the values."""
    rng = np.random.default_rng(n)
    q = np.concatenate([np.linspace(0, 1, 11)[1:-1], np.linspace(0, 1, 21), rng.random(50)])
    pools = [
        rng.normal(0, 1e6, n),
        rng.integers(-3, 4, n).astype(float),
        np.concatenate([[-np.inf, -0.0, 0.0, np.inf], rng.lognormal(0, 3, n)])[:n],
    ]
    for values in pools:
        ordered = np.sort(values)
        with np.errstate(invalid="ignore"):
            expected = np.quantile(values, q)
            got = sorted_quantiles(ordered, q)
        np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))


def _level_counts_by_factorize(values: pd.Series) -> tuple[list[str], list[int], int]:
    """level_counts as it was before the object fast path (pd.factorize of every value), with isna's count."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    by_level: dict[str, int] = {}
    for value, count in zip(uniques, counts, strict=True):
        by_level[str(value)] = by_level.get(str(value), 0) + int(count)
    missing = int((codes < 0).sum())
    if missing:
        by_level[MISSING_LEVEL] = by_level.get(MISSING_LEVEL, 0) + missing
    levels = sorted(by_level)
    return levels, [by_level[level] for level in levels], int(values.isna().sum())


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", "b", None, "a", np.nan, "c", pd.NA] * 30, dtype=object),
        pd.Series([1, "1", 2.5, None, True, "x", float("nan"), 7] * 11, dtype=object),
        pd.Series(["<missing>", None, "z"] * 5, dtype=object),
        pd.Series([None, np.nan] * 4, dtype=object),
        pd.Series([], dtype=object),
        pd.Series([1, 2, 2, None, 3] * 10, dtype="Int64"),
        pd.Series(np.array([0.1, 0.25, np.nan, 0.1], dtype=np.float32)),
        pd.Series(pd.Categorical(["u", "v", None, "u"], categories=["u", "v", "w"])),
        pd.Series(pd.to_datetime(["2026-01-01", None, "2026-01-02", "2026-01-01"])),
    ],
    ids=[
        "text",
        "mixed",
        "missing-text",
        "all-missing",
        "empty",
        "Int64",
        "float32",
        "categorical",
        "datetime",
    ],
)
def test_level_counts_are_factorizes_whatever_the_dtype(values):
    levels, counts, missing = level_counts_and_missing(values)
    assert (levels, counts.tolist(), missing) == _level_counts_by_factorize(values)
    assert level_counts(values)[0] == levels

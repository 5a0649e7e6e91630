"""The reference side of the drift tests, computed once per champion and reused every night.

A column profile holds what the tests need from the reference and nothing else: for a numeric column a sketch
of its distribution (up to `SKETCH_POINTS` values with their exact counts at and below each, so the KS statistic
is exact whenever the reference has at most that many distinct values, and otherwise off by at most the
`ks_tolerance` the profile records) and its PSI decile edges with their counts; for a categorical column its
category counts. A night then costs one pass over the current rows per column (a binary search into the sketch,
or a hash of the categories), never a sort of the reference. Profiles are saved as plain arrays (`.npz` without
pickle) and JSON, so loading one cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# pandas' own counting of an array by its cached hash: private, so guarded by a unit test at the pinned pandas,
# and a pandas that moved it takes the public factorize path (slower, the same counts).
try:
    from pandas.core.algorithms import value_counts_arraylike
except ImportError:  # pragma: no cover
    value_counts_arraylike = None

from tabular_mlops.core.config import MonitorConfig, SchemaConfig

# scipy's ks_2samp computes the exact p-value up to 10,000 values a side; the same limit makes every reference
# of that size profiled exactly, so small samples give the same test as scipy's on the raw values.
SKETCH_POINTS = 10_000
MISSING_LEVEL = "<missing>"
SCORE_COLUMN = "score"
PROFILE_VERSION = 1


@dataclass(frozen=True)
class NumericProfile:
    """Sorted sketch points with the count of reference values <= and < each; PSI edges and bin counts (the last
    bin counts missing values)."""

    points: np.ndarray
    at_or_below: np.ndarray
    below: np.ndarray
    psi_edges: np.ndarray
    psi_counts: np.ndarray
    rows: int
    missing: int

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def exact(self) -> bool:
        """True when every distinct reference value is a sketch point (then the raw values can be rebuilt)."""
        return int(self.at_or_below[-1] if len(self.points) else 0) == self.present and bool(
            np.all(self.below[1:] == self.at_or_below[:-1])
        )

    @property
    def ks_tolerance(self) -> float:
        """Most reference mass strictly between two sketch points: the KS statistic's largest possible error."""
        if self.present == 0 or len(self.points) < 2:
            return 0.0
        return float(np.max(self.below[1:] - self.at_or_below[:-1]) / self.present)

    def values(self) -> np.ndarray:
        """The reference's present values, sorted (only when `exact`)."""
        return np.repeat(self.points, self.at_or_below - self.below)


@dataclass(frozen=True)
class CategoryProfile:
    """Category counts of the reference by level (levels as text, missing as its own level)."""

    levels: tuple[str, ...]
    counts: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.counts.sum())


ColumnProfile = NumericProfile | CategoryProfile


@dataclass(frozen=True)
class ReferenceProfile:
    """Profiles of the reference's feature columns (and its score, when scored) under the settings they used,
    with the counts the nightly summary needs: rows, distinct days, and labelled rows / positives."""

    columns: dict[str, ColumnProfile]
    psi_bins: int
    rows: int = 0
    days: int = 0
    labelled: int = 0
    positives: int = 0
    meta: dict[str, str] = field(default_factory=dict)


def numeric_profile(values: np.ndarray, psi_bins: int, points: int = SKETCH_POINTS) -> NumericProfile:
    values = np.asarray(values, dtype=float)
    present, missing = sorted_present(values)
    # One sort serves everything below: the distinct values, the sketch, the decile edges and the bin counts are
    # read off the sorted values (a cold night profiles every column of a million-row reference).
    if len(present):
        unique = _distinct_sorted(present)
        if len(unique) <= points:
            sketch = unique
        else:
            # Equally spaced ranks, always including the minimum and the maximum.
            ranks = np.round(np.linspace(0, len(present) - 1, points)).astype(np.int64)
            sketch = _distinct_sorted(present[ranks])
        edges = np.unique(sorted_quantiles(present, np.linspace(0, 1, psi_bins + 1)[1:-1]))
    else:
        sketch, edges = np.array([], dtype=float), np.array([], dtype=float)
    # Bin i holds the values in [edge_i-1, edge_i): those below edge_i minus those below edge_i-1.
    below_edges = np.searchsorted(present, edges, side="left")
    counts = np.diff(np.concatenate(([0], below_edges, [len(present)])))
    return NumericProfile(
        points=sketch,
        at_or_below=np.searchsorted(present, sketch, side="right").astype(np.int64),
        below=np.searchsorted(present, sketch, side="left").astype(np.int64),
        psi_edges=edges,
        psi_counts=np.append(counts, missing).astype(np.int64),
        rows=len(values),
        missing=missing,
    )


def sorted_present(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The values that are not NaN, sorted ascending in a copy of their own, and how many were NaN (one copy
    sorted in place, where np.sort(values[~nan]) makes two)."""
    nan = np.isnan(values)
    missing = int(np.count_nonzero(nan))
    present = values[~nan] if missing else values.copy()
    present.sort()
    return present, missing


def sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`np.quantile(ordered, q)` (its default, linear method) of values already sorted ascending, without its copy
    and partition of all of them: numpy's own arithmetic on the two neighbours of each virtual index, so the
    result is the same to the bit (tests/unit/monitoring/test_profile.py)."""
    n = ordered.size
    virtual = (n - 1) * np.asarray(q, dtype=np.float64)
    previous = np.floor(virtual)
    following = previous + 1
    # At or beyond the last index both neighbours are the maximum, as numpy takes them.
    last = virtual >= n - 1
    previous[last] = -1
    following[last] = -1
    previous_at, following_at = previous.astype(np.intp), following.astype(np.intp)
    gamma = virtual - previous_at
    below, above = ordered[previous_at], ordered[following_at]
    step = above - below
    out = below + step * gamma
    np.subtract(above, step * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def _distinct_sorted(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (np.unique without its sort)."""
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def level_counts(values: pd.Series) -> tuple[list[str], np.ndarray]:
    """Counts by level as text (missing as `MISSING_LEVEL`); hashes the values once, converts only the distinct
    ones to text, so integer-coded and string categories cost the same."""
    levels, counts, _ = level_counts_and_missing(values)
    return levels, counts


def level_counts_and_missing(values: pd.Series) -> tuple[list[str], np.ndarray, int]:
    """`level_counts` and the number of missing values among them (missing values count in `MISSING_LEVEL`,
    and so may a value whose text is that)."""
    if values.dtype == object and value_counts_arraylike is not None:
        # Plain Python objects (text categories as read from parquet): counted by their cached hash, missing values
        # as keys of their own, in a quarter of the time of factorizing them (which checks every value is text)
        # and a separate isna pass. The same hashing and NA rules as pd.factorize; a unit test compares the two.
        keys, key_counts, _ = value_counts_arraylike(values.to_numpy(), dropna=False)
        na = pd.isna(keys)
        missing = int(key_counts[na].sum())
        present = zip(keys[~na], key_counts[~na], strict=True)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        missing = int(np.count_nonzero(codes < 0))
        present = zip(uniques, np.bincount(codes[codes >= 0], minlength=len(uniques)), strict=True)
    by_level: dict[str, int] = {}
    for value, count in present:
        key = str(value)
        by_level[key] = by_level.get(key, 0) + int(count)
    if missing:
        by_level[MISSING_LEVEL] = by_level.get(MISSING_LEVEL, 0) + missing
    levels = sorted(by_level)
    return levels, np.array([by_level[level] for level in levels], dtype=np.int64), missing


def category_profile(values: pd.Series) -> CategoryProfile:
    levels, counts = level_counts(values)
    return CategoryProfile(tuple(levels), counts)


def column_profile(values: pd.Series, kind: str, psi_bins: int) -> ColumnProfile:
    if kind == "category":
        return category_profile(values)
    return numeric_profile(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), psi_bins)


@dataclass(frozen=True)
class ReferenceCounts:
    """The counts a reference profile carries: rows, distinct days, labelled rows and positives."""

    rows: int = 0
    days: int = 0
    labelled: int = 0
    positives: int = 0

    @classmethod
    def of(cls, rows: pd.DataFrame, schema: SchemaConfig) -> ReferenceCounts:
        target = (
            pd.to_numeric(rows[schema.target_column], errors="coerce")
            if schema.target_column in rows.columns
            else pd.Series(dtype=float)
        )
        days = (
            rows[schema.timestamp_column].dt.normalize().nunique()
            if schema.timestamp_column in rows.columns
            else 0
        )
        return cls(len(rows), int(days), int(target.notna().sum()), int((target == 1).sum()))

    def __add__(self, other: ReferenceCounts) -> ReferenceCounts:
        return ReferenceCounts(
            self.rows + other.rows,
            self.days + other.days,
            self.labelled + other.labelled,
            self.positives + other.positives,
        )


def build_profile(
    reference: pd.DataFrame,
    schema: SchemaConfig,
    monitor: MonitorConfig,
    meta: dict[str, str] | None = None,
    counts: ReferenceCounts | None = None,
) -> ReferenceProfile:
    """Profile every feature column of `reference` present in it, and its `score` column when it has one.
    `counts` are the whole reference's when `reference` is a sample of it (else counted here)."""
    columns: dict[str, ColumnProfile] = {
        f.name: column_profile(reference[f.name], f.type, monitor.psi_bins)
        for f in schema.features
        if f.name in reference.columns
    }
    if SCORE_COLUMN in reference.columns:
        columns[SCORE_COLUMN] = column_profile(reference[SCORE_COLUMN], "float", monitor.psi_bins)
    counts = counts or ReferenceCounts.of(reference, schema)
    return ReferenceProfile(
        columns=columns,
        psi_bins=monitor.psi_bins,
        rows=counts.rows,
        days=counts.days,
        labelled=counts.labelled,
        positives=counts.positives,
        meta=dict(meta or {}),
    )


def save_profile(profile: ReferenceProfile, path: Path) -> Path:
    """Write the profile as one `.npz` of plain arrays (no pickle), atomically."""
    arrays: dict[str, Any] = {}
    header: dict = {
        "version": PROFILE_VERSION,
        "psi_bins": profile.psi_bins,
        "counts": {k: getattr(profile, k) for k in ("rows", "days", "labelled", "positives")},
        "meta": profile.meta,
        "columns": {},
    }
    for i, (name, col) in enumerate(profile.columns.items()):
        if isinstance(col, NumericProfile):
            header["columns"][name] = {"kind": "numeric", "key": i, "rows": col.rows, "missing": col.missing}
            for part in ("points", "at_or_below", "below", "psi_edges", "psi_counts"):
                arrays[f"{i}.{part}"] = getattr(col, part)
        else:
            header["columns"][name] = {"kind": "category", "key": i, "levels": list(col.levels)}
            arrays[f"{i}.counts"] = col.counts
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_profile(path: Path) -> ReferenceProfile:
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        if header.get("version") != PROFILE_VERSION:
            raise ValueError(f"{path}: profile format {header.get('version')}, expected {PROFILE_VERSION}")
        columns: dict[str, ColumnProfile] = {}
        for name, spec in header["columns"].items():
            key = spec["key"]
            if spec["kind"] == "numeric":
                columns[name] = NumericProfile(
                    points=data[f"{key}.points"],
                    at_or_below=data[f"{key}.at_or_below"],
                    below=data[f"{key}.below"],
                    psi_edges=data[f"{key}.psi_edges"],
                    psi_counts=data[f"{key}.psi_counts"],
                    rows=int(spec["rows"]),
                    missing=int(spec["missing"]),
                )
            else:
                columns[name] = CategoryProfile(tuple(spec["levels"]), data[f"{key}.counts"])
    return ReferenceProfile(
        columns=columns, psi_bins=int(header["psi_bins"]), meta=header["meta"], **header["counts"]
    )

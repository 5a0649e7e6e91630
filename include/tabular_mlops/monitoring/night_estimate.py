"""Step 4c of a night: know before the labels arrive (issue 24). The champion's ROC AUC, PR AUC, precision,
recall, flag rate at the decision threshold and Brier on the current window, with intervals, by CBPE (its scores
through the calibrator fitted on its holdout) and by importance weighting (its labelled holdout re-weighted to
look like the window); the business value of its decisions; and, for the window whose labels matured tonight,
the realized figures set against what was estimated for it then, graded over every matured night so far.

Every edge is a reason in the record, never a NaN: too few rows, a holdout of one class or none, a calibrator
that does not help (identity, said so), a window no reference row resembles, all-missing features (left out of
the domain classifier, named)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_mlops.core.config import BusinessValueConfig, MonitorConfig, PathsConfig
from tabular_mlops.monitoring.champion_reference import ChampionReference
from tabular_mlops.monitoring.estimate_records import (
    CBPE_ROC_AUC,
    CBPE_VALUE_PER_ROW,
    GRADED,
    EstimatedHarm,
    NightEstimate,
)
from tabular_mlops.monitoring.harm import estimated_harm
from tabular_mlops.monitoring.night_record import read_result
from tabular_mlops.stats.business_value import (
    BusinessValue,
    CellValues,
    business_value_of,
    estimate_business_value,
    realized_business_value,
)
from tabular_mlops.stats.cbpe import EstimationSettings, estimate_cbpe
from tabular_mlops.stats.estimate_grading import EstimateGrading, NightFigures, grade_estimates
from tabular_mlops.stats.importance import estimate_importance_weighted
from tabular_mlops.stats.metrics import PerformanceEstimate, realized_performance, withheld

log = logging.getLogger(__name__)

# Matured nights graded back from tonight: a season of nights, read from their result files.
GRADING_LOOKBACK_NIGHTS = 120


@dataclass(frozen=True)
class NightHistory:
    """Which night this is, of which champion, the night whose labels matured tonight, and where the earlier
    nights' results lie (the estimates they recorded are graded against tonight's labels)."""

    champion_version: str
    night: dt.date
    label_night: dt.date
    root: Path
    paths: PathsConfig


def cell_values(config: BusinessValueConfig) -> CellValues | None:
    """The configured value of each cell, None when params.yaml leaves business_value unset."""
    if not config.configured:
        return None
    return CellValues(
        float(config.true_positive or 0.0),
        float(config.false_positive or 0.0),
        float(config.false_negative or 0.0),
        float(config.true_negative or 0.0),
    )


def _labelled(rows: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Scores, 0/1 labels and the rows themselves, of the rows that have both."""
    if rows is None or rows.empty:
        return np.empty(0), np.empty(0, dtype=np.int8), pd.DataFrame()
    keep = rows["label"].notna() & rows["score"].notna()
    kept = rows[keep].reset_index(drop=True)
    return kept["score"].to_numpy(np.float64), kept["label"].to_numpy().astype(np.int8), kept


def _figures(night: str, estimate: NightEstimate, key: str, realized: PerformanceEstimate,
             value: BusinessValue | None) -> NightFigures | None:  # fmt: skip
    """The estimate recorded for `night` beside its realized figure, for one graded key."""
    if key == CBPE_VALUE_PER_ROW:
        if value is None or value.per_row is None or estimate.value.per_row is None:
            return None
        rows = max(estimate.value.rows, 1)
        low, high = estimate.value.lower, estimate.value.upper
        return NightFigures(
            night,
            estimate.value.per_row,
            None if low is None else low / rows,
            None if high is None else high / rows,
            value.per_row,
        )
    method = estimate.cbpe if key == CBPE_ROC_AUC else estimate.importance
    figure, truth = method.metric("roc_auc"), realized.metric("roc_auc").value
    if figure.value is None or truth is None:
        return None
    return NightFigures(night, figure.value, figure.lower, figure.upper, truth)


def _history(
    root: Path, paths: PathsConfig, night: dt.date, keys: Sequence[str], champion_version: str
) -> dict[str, list[NightFigures]]:
    """The matured figures recorded by earlier nights of this champion (each night records the window that
    matured on it): a new champion's grades start afresh, so an old champion's misses do not keep its alert up."""
    found: dict[str, list[NightFigures]] = {k: [] for k in keys}
    for back in range(GRADING_LOOKBACK_NIGHTS, 0, -1):
        try:
            earlier = read_result(root, paths, night - dt.timedelta(days=back))
        except (
            OSError,
            ValueError,
        ) as exc:  # a damaged result file costs one night of history, not the night
            log.warning("night %s: result unreadable for grading (%s)", night - dt.timedelta(days=back), exc)
            continue
        if earlier is None or earlier.estimate is None or earlier.champion_version != champion_version:
            continue
        for key, figures in earlier.estimate.matured.items():
            if key in found:
                found[key].append(figures)
    return found


def estimate_night(
    reference: ChampionReference,
    current: pd.DataFrame,
    labelled: pd.DataFrame,
    *,
    features: Sequence[str],
    monitor: MonitorConfig,
    threshold: float,
    business_value: BusinessValueConfig,
    history: NightHistory,
) -> NightEstimate:
    """The night's estimate of the champion on `current` (its scored window), and the grading of the window
    ending `history.label_night` whose labels `labelled` holds (scored by this champion)."""
    settings = EstimationSettings(min_rows=monitor.min_rows)
    scores = current["score"].to_numpy(np.float64) if len(current) else np.empty(0)
    calibration = reference.calibration
    hold_scores, hold_labels, hold_rows = _labelled(reference.holdout)
    if hold_scores.size:
        holdout = realized_performance(hold_scores, hold_labels, threshold)
        importance = estimate_importance_weighted(
            hold_rows, hold_scores, hold_labels, current, features, threshold, settings
        )
    else:
        why = f"champion v{history.champion_version} has no labelled holdout"
        holdout, importance = (
            withheld("realized", 0, why),
            withheld("importance_weighting", len(current), why),
        )
    cbpe = estimate_cbpe(scores, threshold, calibration, settings)
    values = cell_values(business_value)
    unset = "business_value is not set in params.yaml"
    value = (
        estimate_business_value(scores, threshold, calibration, values, min_rows=monitor.min_rows)
        if values is not None
        else BusinessValue("cbpe", int(scores.size), None, None, reason=unset)
    )
    value_importance = (
        business_value_of("importance_weighting", importance.cells, values, importance.reason)
        if values is not None
        else BusinessValue("importance_weighting", len(current), None, None, reason=unset)
    )
    estimate = NightEstimate(
        rows=int(scores.size),
        threshold=threshold,
        calibrator=None if calibration.calibrator is None else calibration.calibrator.kind,
        calibration_reason=calibration.reason,
        holdout=holdout,
        cbpe=cbpe,
        importance=importance,
        value=value,
        value_importance=value_importance,
        value_unit=business_value.unit,
        harm=estimated_harm(holdout, cbpe, importance, monitor.max_estimated_drop),
    )
    return _with_matured(estimate, labelled, values, monitor, history)


def _with_matured(
    estimate: NightEstimate,
    labelled: pd.DataFrame,
    values: CellValues | None,
    monitor: MonitorConfig,
    history: NightHistory,
) -> NightEstimate:
    """The realized figures of the window ending `label_night`, paired with what was estimated for it then (by
    the same champion), and the grades of every matured night so far."""
    night, label_night, root, paths = history.night, history.label_night, history.root, history.paths
    champion_version = history.champion_version
    earlier = _history(root, paths, night, GRADED, champion_version)
    scores, labels, _ = _labelled(labelled)
    matured: dict[str, NightFigures] = {}
    realized = value_realized = None
    if scores.size >= monitor.min_rows:
        realized = realized_performance(scores, labels, estimate.threshold)
        value_realized = (
            None if values is None else realized_business_value(scores, labels, estimate.threshold, values)
        )
        try:
            then = read_result(root, paths, label_night)
        except (OSError, ValueError) as exc:
            log.warning("night %s: result unreadable for grading (%s)", label_night, exc)
            then = None
        if then is not None and then.estimate is not None and then.champion_version == champion_version:
            for key in GRADED:
                figures = _figures(label_night.isoformat(), then.estimate, key, realized, value_realized)
                if figures is not None:
                    matured[key] = figures
    grades: dict[str, EstimateGrading] = {}
    for key in GRADED:
        nights = [*earlier[key], *([matured[key]] if key in matured else [])]
        if nights:
            method, metric = key.split("/", 1)
            grades[key] = grade_estimates(metric, method, nights, monitor.concept_drift_nights)
    return replace(
        estimate,
        matured_night=label_night.isoformat() if realized is not None else None,
        realized=realized,
        value_realized=value_realized,
        matured=matured,
        grades=grades,
    )


def estimate_point(estimate: NightEstimate) -> tuple[float | None, float | None, float | None]:
    """The night's CBPE ROC AUC and its interval, as the nights chart's point carries them (estimate_panel)."""
    figure = estimate.cbpe.metric("roc_auc")
    return figure.value, figure.lower, figure.upper


def harm_limit(harm: EstimatedHarm, max_drop: float) -> float | None:
    """The estimated ROC AUC below which the decision calls the drift harmful (the holdout's less `max_drop`),
    None without a holdout figure."""
    return None if harm.baseline is None else harm.baseline - max_drop


def realized_points(estimate: NightEstimate) -> dict[str, float]:
    """Night -> realized ROC AUC of the window whose labels matured tonight, when the champion that estimated
    it is tonight's (the panel draws it where the estimate was made)."""
    figures = estimate.matured.get(CBPE_ROC_AUC)
    return {} if figures is None or figures.realized is None else {figures.night: figures.realized}

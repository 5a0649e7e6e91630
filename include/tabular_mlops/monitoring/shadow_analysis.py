"""Step 4b of a night: the paired shadow comparison (issue 25). When a challenger scored the night's
rows in shadow (prediction-log rows with source `shadow` and the champion's entity ids), the two are
compared on the same rows: how alike they are on the current window, and, on every pair whose label has matured
since the challenger began shadowing, the paired loss and ROC AUC differences with intervals, and the always-valid
sequential test of the per-row loss improvement (stats/sequential.py), whose state is carried from night to night
in the `monitoring_shadow` table (a re-run of a night replaces its own row and starts from the night before).

Why shadow is the default proof for credit-like data: the decision decides who gets a label, so a live split
changes who is labelled in each arm and biases the comparison; in shadow the champion decides for everyone and
both models are judged on the same labelled rows (see stats/paired.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import DeployConfig, MonitorConfig, SchemaConfig, ThresholdRule
from tabular_mlops.core.contracts import Tag
from tabular_mlops.model.scoring import LoadedModel, decision_threshold, version_record
from tabular_mlops.monitoring import decisions_log
from tabular_mlops.monitoring.log_window import night_bounds
from tabular_mlops.monitoring.results import ShadowComparison
from tabular_mlops.stats.paired import compare_paired, loss_improvements
from tabular_mlops.stats.sequential import SequentialDesign, SequentialResult, paired_look, update
from tabular_mlops.store import shadow_pairs

TABLE = "monitoring_shadow"
# Matured pairs are read from the first logged shadow answer of the two versions on (or the champion's promotion).
_LOG_START = dt.datetime(1970, 1, 1)


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("night", sa.String(10), primary_key=True),
        sa.Column("champion_version", sa.String(32), nullable=False),
        sa.Column("challenger_version", sa.String(32), nullable=False),
        sa.Column("comparison", sa.JSON(), nullable=False),
    )


def ensure_shadow_table(engine: sa.Engine) -> sa.Table:
    metadata = sa.MetaData()
    table = _table(metadata)
    metadata.create_all(engine)
    return table


def record_comparison(engine: sa.Engine, night: dt.date, comparison: ShadowComparison) -> None:
    """Upsert the night's comparison (a re-run of the night replaces it)."""
    table = ensure_shadow_table(engine)
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.night == night.isoformat()))
        conn.execute(
            table.insert().values(
                night=night.isoformat(),
                champion_version=comparison.champion_version,
                challenger_version=comparison.challenger_version,
                comparison=comparison.to_dict(),
            )
        )


def recorded_comparisons(
    engine: sa.Engine, champion_version: str | None = None, challenger_version: str | None = None
) -> dict[dt.date, ShadowComparison]:
    """Every recorded night's comparison (of these two versions, when given), by night."""
    if not sa.inspect(engine).has_table(TABLE):
        return {}
    table = ensure_shadow_table(engine)
    query = sa.select(table.c.night, table.c.comparison).order_by(table.c.night)
    if champion_version is not None:
        query = query.where(table.c.champion_version == champion_version)
    if challenger_version is not None:
        query = query.where(table.c.challenger_version == challenger_version)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {dt.date.fromisoformat(n): ShadowComparison.from_dict(c) for n, c in rows}


def _previous_test(
    engine: sa.Engine, night: dt.date, champion: str, challenger: str, since: dt.date | None
) -> SequentialResult | None:
    """The test's state after the last night before `night` (and from `since` on) that compared these two
    versions."""
    earlier = [
        c
        for n, c in recorded_comparisons(engine, champion, challenger).items()
        if n < night and (since is None or n >= since)
    ]
    return earlier[-1].test if earlier else None


def sequential_design(deploy: DeployConfig) -> SequentialDesign:
    """The pre-registered test of params.yaml's `deploy.sequential`."""
    s = deploy.sequential
    return SequentialDesign(s.max_samples, s.mixture_sd, s.alpha, s.margin, s.min_samples)


def champion_decided(matured_pairs: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The matured pairs the champion decided, and a reason naming how many the challenger decided, if any.

    In canary the challenger decides its share of applicants, and a decision decides who gets a label (a declined
    applicant never shows whether they would have repaid): its labelled rows are a sample its own decisions chose,
    the live-split bias that shadow exists to avoid. The loss, AUC and the test take only the applications the
    champion decided; the comparison without labels keeps them all."""
    decided_by_challenger = matured_pairs["challenger_answered"].astype(bool)
    count = int(decided_by_challenger.sum())
    if not count:
        return matured_pairs, None
    reason = (
        f"{count} matured pairs the challenger decided (canary answers) left out of the loss, AUC and test: "
        "its own decisions chose who is labelled among them"
    )
    return matured_pairs[~decided_by_challenger], reason


def compare_shadow(
    log_engine: sa.Engine,
    schema: SchemaConfig,
    monitor: MonitorConfig,
    deploy: DeployConfig,
    rule: ThresholdRule,
    champion: LoadedModel,
    night: dt.date,
) -> ShadowComparison | None:
    """The night's paired comparison with the challenger in shadow, or None when none scored in the window.

    The comparison starts at the promotion that made the champion, when that is later than the window's start
    (design point 5 of issue 25): in canary the old champion scored the challenger's answers in the background,
    and those rows would otherwise pair it with the new champion for `window_days` nights ("v_old beside v_new"),
    and a version proposed again would be tested on pairs from before the promotion."""
    start, end = night_bounds(night, monitor.window_days)
    since = decisions_log.champion_since(log_engine, champion.version, night)
    first = _LOG_START if since is None else dt.datetime.combine(since, dt.time())
    window = (max(start, first), end)
    challenger = shadow_pairs.shadowed_version(log_engine, schema, *window, champion.version)
    if challenger is None:
        return None
    loss = deploy.shadow.loss
    base = ShadowComparison(champion.version, challenger, loss)
    try:
        tags = version_record(champion.name, challenger).tags
        thresholds = {
            "champion_threshold": champion.threshold(rule),
            "challenger_threshold": decision_threshold(
                rule, tags.get(Tag.DECISION_THRESHOLD), f"{champion.name} v{challenger}"
            ),
        }
    except Exception as exc:  # noqa: BLE001 - a registry problem is the comparison's reason, not a failed night
        return dataclasses.replace(base, reasons=(f"challenger v{challenger}: {exc}",))
    recent_pairs = shadow_pairs.read_shadow_pairs(log_engine, schema, *window, champion.version, challenger)
    label_end = night_bounds(night - dt.timedelta(days=schema.label_delay_days), 1)[1]
    matured_pairs = shadow_pairs.read_shadow_pairs(
        log_engine, schema, first, label_end, champion.version, challenger
    )
    matured_pairs = matured_pairs[matured_pairs["label"].notna()]
    matured_pairs, left_out = champion_decided(matured_pairs)
    reasons: list[str] = [left_out] if left_out else []
    recent = (
        compare_paired(
            recent_pairs["champion_score"],
            recent_pairs["challenger_score"],
            psi_bins=monitor.psi_bins,
            **thresholds,
        )
        if len(recent_pairs)
        else None
    )
    if recent is None:
        reasons.append(f"no row scored by both v{champion.version} and v{challenger} in the window")
    matured = test = None
    if len(matured_pairs):
        y = matured_pairs["label"].to_numpy(float)
        a, b = matured_pairs["champion_score"].to_numpy(), matured_pairs["challenger_score"].to_numpy()
        matured = compare_paired(a, b, labels=y, psi_bins=monitor.psi_bins, **thresholds)
        previous = _previous_test(log_engine, night, champion.version, challenger, since)
        test = update(sequential_design(deploy), previous, paired_look(loss_improvements(y, a, b, loss)))
    else:
        reasons.append("no paired row has a matured label yet: no loss or AUC difference, no test")
    return ShadowComparison(champion.version, challenger, loss, recent, matured, test, tuple(reasons))

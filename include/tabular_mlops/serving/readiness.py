"""Why the service is degraded (answering, but not as it should): /health/ready, `make status` and the
`serving_degraded` gauge read the same reasons. A champion the service refused, and prediction-log rows dropped
since start, stay reasons after the registry or the database is back: the first needs a promotion, the second
is data lost from the night's monitoring."""

from __future__ import annotations

from tabular_mlops.core.contracts import CHAMPION
from tabular_mlops.serving.follower import ChampionFollower
from tabular_mlops.serving.logwriter import PredictionLogWriter


def readiness_reasons(
    follower: ChampionFollower, writer: PredictionLogWriter, cache_reason: str | None
) -> list[str]:
    """The reasons of a loaded service (empty: ready); sets the refused-champion gauge on the way."""
    holder, metrics = follower.holder, follower.metrics
    served, reasons = holder.current, []
    if served.origin == "cache":
        reasons.append(f"serving v{served.version} from the local cache: {cache_reason}")
    if follower.registry_error:
        since = follower.registry_error_since
        reasons.append(f"registry unreachable since {since:%Y-%m-%dT%H:%M:%SZ}, the champion alias is not "
                       f"followed: {follower.registry_error}")  # fmt: skip
    refused = follower.refused_champion()
    metrics.champion_refused.clear()
    if refused is not None:
        version, why = refused
        metrics.champion_refused.labels(version).set(1)
        reasons.append(
            f"the registry's {CHAMPION} is v{version}, which this service refused ({why}); "
            f"v{served.version} keeps serving"
        )
    if holder.rolled_back_from:
        reasons.append(
            f"rolled back in-process from v{holder.rolled_back_from}, which the registry still names "
            f"{CHAMPION} (`tabular-mlops rollback` moves the alias; POST /admin/reload follows it again)"
        )
    if writer.down_since:
        reasons.append(
            f"prediction log database unreachable since {writer.down_since:%Y-%m-%dT%H:%M:%SZ}: "
            f"{writer.buffered} row(s) buffered, {writer.dropped} dropped ({writer.last_error})"
        )
    elif writer.dropped:
        reasons.append(
            f"{writer.dropped} prediction log row(s) dropped since start while the database was unreachable "
            "(it is back; those answers are missing from the night's monitoring)"
        )
    return reasons

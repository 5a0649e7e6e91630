"""Rollback rules for a canary over a sliding window: its error rate, its p99 latency and the PSI of its scores
against the champion's answers in the same window. Each rule has a threshold and a minimum count below which it
does not judge (three requests with one error is not a 33% error rate). Any rule breached: roll back; a rule
without enough data and none breached: wait; every rule judged and passed: healthy, with each rule's figure
against its threshold as the reasons.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tabular_mlops.stats.psi import score_psi
from tabular_mlops.stats.records import JsonRecord, refuse_out_of_range


class GuardAction(enum.StrEnum):
    ROLLBACK = "rollback"
    WAIT = "wait"
    HEALTHY = "healthy"


@dataclass(frozen=True)
class GuardRules(JsonRecord):
    """Thresholds and the minimum counts that make each one count."""

    window_seconds: float = 3600.0
    max_error_rate: float = 0.02
    min_requests: int = 200
    max_p99_latency_ms: float = 250.0
    min_latencies: int = 200
    max_score_psi: float = 0.2
    min_scores: int = 500

    def __post_init__(self) -> None:
        checks = {
            "window_seconds": self.window_seconds > 0,
            "max_error_rate": 0 <= self.max_error_rate < 1,
            "max_p99_latency_ms": self.max_p99_latency_ms > 0,
            "max_score_psi": self.max_score_psi > 0,
            "min_requests": self.min_requests >= 1,
            "min_latencies": self.min_latencies >= 1,
            "min_scores": self.min_scores >= 2,
        }
        refuse_out_of_range(self, "canary guard rules", checks)


@dataclass(frozen=True)
class RuleCheck(JsonRecord):
    """One rule on the window: its figure (None when too few), threshold, count, and whether it is breached
    (None when it could not judge)."""

    rule: str
    value: float | None
    threshold: float
    count: int
    min_count: int
    breached: bool | None
    reason: str


@dataclass(frozen=True)
class GuardVerdict(JsonRecord):
    action: GuardAction
    checks: tuple[RuleCheck, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ArmWindow:
    """One arm's requests in the window: success flags, latencies, and the scores of its scored answers."""

    ok: NDArray
    latency_ms: NDArray
    scores: NDArray

    @classmethod
    def of(cls, ok: ArrayLike, latency_ms: ArrayLike, scores: ArrayLike) -> ArmWindow:
        flags, latency, values = (
            np.asarray(ok, bool),
            np.asarray(latency_ms, float),
            np.asarray(scores, float),
        )
        if flags.shape != latency.shape:
            raise ValueError(f"arm window: {flags.size} success flags but {latency.size} latencies")
        for name, array in (("latency_ms", latency), ("scores", values)):
            if not np.isfinite(array).all():
                raise ValueError(f"arm window: {name} holds NaN or infinity")
        return cls(flags, latency, values)


def judge_canary(canary: ArmWindow, champion: ArmWindow, rules: GuardRules) -> GuardVerdict:
    """The verdict on one window of canary and champion answers."""
    checks = (
        _error_rate(canary, champion, rules),
        _p99(canary, champion, rules),
        _psi(canary, champion, rules),
    )
    breached = [c.reason for c in checks if c.breached]
    if breached:
        return GuardVerdict(GuardAction.ROLLBACK, checks, tuple(breached))
    waiting = [c.reason for c in checks if c.breached is None]
    if waiting:
        return GuardVerdict(GuardAction.WAIT, checks, tuple(waiting))
    # Passed, each with its figure and threshold: a pass is read as a rollback is (the run note, the deploy log).
    return GuardVerdict(GuardAction.HEALTHY, checks, tuple(c.reason for c in checks))


def _check(rule: str, value: float | None, threshold: float, count: int, need: int, text: str) -> RuleCheck:
    if count < need or value is None:
        return RuleCheck(rule, None, threshold, count, need, None, f"{rule}: {count} of the {need} needed")
    breached = value > threshold
    return RuleCheck(
        rule, value, threshold, count, need, breached, f"{text} {'>' if breached else '<='} {threshold:g}"
    )


def _error_rate(canary: ArmWindow, champion: ArmWindow, rules: GuardRules) -> RuleCheck:
    n, errors = canary.ok.size, int((~canary.ok).sum())
    rate = errors / n if n else None
    context = f"; champion {np.mean(~champion.ok):.2%}" if champion.ok.size else ""
    text = f"canary error rate {rate or 0:.2%} ({errors} of {n}{context}),"
    return _check("error_rate", rate, rules.max_error_rate, n, rules.min_requests, text)


def _p99(canary: ArmWindow, champion: ArmWindow, rules: GuardRules) -> RuleCheck:
    n = canary.latency_ms.size
    p99 = float(np.percentile(canary.latency_ms, 99)) if n else None
    context = (
        f"; champion {np.percentile(champion.latency_ms, 99):.1f} ms" if champion.latency_ms.size else ""
    )
    text = f"canary p99 latency {p99 or 0:.1f} ms over {n} requests{context},"
    return _check("p99_latency_ms", p99, rules.max_p99_latency_ms, n, rules.min_latencies, text)


def _psi(canary: ArmWindow, champion: ArmWindow, rules: GuardRules) -> RuleCheck:
    n = min(canary.scores.size, champion.scores.size)
    psi = score_psi(champion.scores, canary.scores) if n >= rules.min_scores else None
    text = (
        f"score PSI {psi or 0:.3f} of {canary.scores.size} canary vs {champion.scores.size} champion scores,"
    )
    return _check("score_psi", psi, rules.max_score_psi, n, rules.min_scores, text)


class CanaryWindow:
    """The last `rules.window_seconds` of answers per arm, fed as they happen; `verdict(now)` judges it.
    Thread-safe: the service records from its handlers while a checker reads."""

    def __init__(self, rules: GuardRules, *, canary: str, champion: str) -> None:
        self.rules, self.canary, self.champion = rules, canary, champion
        self._rows: deque[tuple[float, str, bool, float, float | None]] = deque()
        self._lock = threading.Lock()

    def record(self, at: float, arm: str, *, ok: bool, latency_ms: float, score: float | None) -> None:
        """One answer at time `at` (seconds, nondecreasing); `score` None for a failed or fallback answer."""
        if arm not in (self.canary, self.champion):
            raise ValueError(f"canary window: arm {arm!r} is neither {self.canary!r} nor {self.champion!r}")
        with self._lock:
            self._rows.append((at, arm, ok, latency_ms, score))

    def verdict(self, now: float) -> GuardVerdict:
        with self._lock:
            while self._rows and self._rows[0][0] < now - self.rules.window_seconds:
                self._rows.popleft()
            rows = list(self._rows)
        return judge_canary(self._arm(rows, self.canary), self._arm(rows, self.champion), self.rules)

    @staticmethod
    def _arm(rows: list[tuple[float, str, bool, float, float | None]], arm: str) -> ArmWindow:
        mine = [r for r in rows if r[1] == arm]
        scores = [r[4] for r in mine if r[4] is not None]
        return ArmWindow.of([r[2] for r in mine], [r[3] for r in mine], scores)

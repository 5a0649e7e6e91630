"""An always-valid test of a challenger against the champion, safe to look at every night: the mixture SPRT.

Why this test: labels mature a few every night and the monitor looks every night. A fixed-sample t-test read
every night declares a winner between two identical models far more often than its alpha (the peeking problem;
the unit tests show it). The mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and
Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3), 2022 (arXiv
1512.04922), gives a p-value and a confidence sequence that hold at every look, however many, with no schedule
of looks to fix in advance; a group-sequential design (O'Brien-Fleming, Pocock) needs the looks planned ahead,
which nightly label maturity does not give. The price is width: the sequence is wider than a fixed-sample
interval, so `plan_max_samples` sizes the test for it.

The statistic: an estimate Z of the improvement delta (positive = the challenger is better) with variance V, and
a normal mixture delta ~ N(theta0, tau^2) over the alternatives (tau = `mixture_sd`, pre-registered):
    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (Z - theta0)^2 / (2 V (V + tau^2)))
The always-valid p-value is the running minimum of 1 / Lambda; the confidence sequence is the running
intersection of {theta0 : Lambda(theta0) < 1 / alpha}. Paired shadow rows give Z = the mean per-row improvement
(champion loss - challenger loss), V = s^2 / n; an A/B split gives Z = the difference of the arms' means,
V = s_a^2 / n_a + s_b^2 / n_b. V uses the sample variance, so no verdict before `min_samples`.

Verdicts, with margin m >= 0 (0 = superiority): better when the sequence is above 0; non-inferior when it is
above -m (m > 0 only); worse when it is below -m; stopped without a winner at `max_samples`; else continue.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from tabular_mlops.stats.records import JsonRecord


class Verdict(enum.StrEnum):
    CHALLENGER_BETTER = "challenger_better"
    CHALLENGER_NON_INFERIOR = "challenger_non_inferior"
    CHALLENGER_WORSE = "challenger_worse"
    CONTINUE = "continue"
    STOPPED_NO_WINNER = "stopped_no_winner"


# Verdict codes of the vectorised path, in this order.
VERDICTS = tuple(Verdict)
_CODE = {v: i for i, v in enumerate(VERDICTS)}


@dataclass(frozen=True)
class SequentialDesign(JsonRecord):
    """The pre-registered test: error rate, non-inferiority margin, largest sample, mixture scale, burn-in.

    `max_samples` counts pairs (paired shadow) or rows of the smaller arm (A/B). `mixture_sd` is the effect
    size the test is most sensitive to; the smallest effect worth detecting is a good choice.
    """

    max_samples: int
    mixture_sd: float
    alpha: float = 0.05
    margin: float = 0.0
    min_samples: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"sequential design: alpha must be in (0, 1), got {self.alpha}")
        if not (math.isfinite(self.mixture_sd) and self.mixture_sd > 0):
            raise ValueError(f"sequential design: mixture_sd must be > 0, got {self.mixture_sd}")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"sequential design: margin must be >= 0, got {self.margin}")
        if not 2 <= self.min_samples <= self.max_samples:
            raise ValueError(
                f"sequential design: need 2 <= min_samples ({self.min_samples}) <= max_samples "
                f"({self.max_samples})"
            )

    @property
    def null(self) -> float:
        """The improvement the p-value tests against: 0, or -margin in a non-inferiority design."""
        return -self.margin


@dataclass(frozen=True)
class Look(JsonRecord):
    """Cumulative evidence at one look: the sample count, the improvement estimate and its variance (None with
    a reason when they cannot be computed)."""

    samples: int
    estimate: float | None
    variance: float | None
    reason: str = ""


@dataclass(frozen=True)
class SequentialResult(JsonRecord):
    """The test after a look; it is also the state the next look starts from. Bounds and p-value are None
    until the burn-in is over."""

    verdict: Verdict
    looks: int
    samples: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    reasons: tuple[str, ...]

    @property
    def stopped(self) -> bool:
        return self.verdict is not Verdict.CONTINUE


def paired_look(improvements: ArrayLike) -> Look:
    """A look from every per-row improvement matured so far (champion loss - challenger loss, same rows)."""
    values = _finite(improvements, "improvements")
    n = len(values)
    if n < 2:
        return Look(n, None, None, f"{n} paired rows: the variance needs at least 2")
    variance = float(values.var(ddof=1)) / n
    if variance == 0:
        return Look(n, float(values.mean()), None, "every paired difference is equal: no variance to test on")
    return Look(n, float(values.mean()), variance)


def two_sample_look(champion: ArrayLike, challenger: ArrayLike, *, higher_is_better: bool) -> Look:
    """A look from each arm's per-row outcomes matured so far (an A/B split); `samples` is the smaller arm."""
    a, b = _finite(champion, "champion"), _finite(challenger, "challenger")
    n = min(len(a), len(b))
    if n < 2:
        return Look(n, None, None, f"arms of {len(a)} and {len(b)} rows: each needs at least 2")
    difference = float(b.mean() - a.mean()) * (1 if higher_is_better else -1)
    variance = float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b)
    if variance == 0:
        return Look(n, difference, None, "both arms are constant: no variance to test on")
    return Look(n, difference, variance)


def log_likelihood_ratio(estimate: ArrayLike, variance: ArrayLike, null: float, mixture_sd: float) -> NDArray:
    """log Lambda of the normal-mixture SPRT (vectorised)."""
    z, v, tau2 = np.asarray(estimate, float), np.asarray(variance, float), mixture_sd**2
    return 0.5 * np.log(v / (v + tau2)) + tau2 * (z - null) ** 2 / (2 * v * (v + tau2))


def half_width(variance: ArrayLike, mixture_sd: float, alpha: float) -> NDArray:
    """Half-width of the confidence sequence at one look: where log Lambda reaches log(1 / alpha)."""
    v, tau2 = np.asarray(variance, float), mixture_sd**2
    return np.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * np.log((v + tau2) / v)))


def classify(low: ArrayLike, high: ArrayLike, samples: ArrayLike, design: SequentialDesign) -> NDArray:
    """Verdict codes (indices into VERDICTS) from the running bounds and the sample counts (vectorised)."""
    lo, hi, n = np.asarray(low, float), np.asarray(high, float), np.asarray(samples)
    m = design.margin
    code = np.where(n >= design.max_samples, _CODE[Verdict.STOPPED_NO_WINNER], _CODE[Verdict.CONTINUE])
    code = np.where(hi < -m, _CODE[Verdict.CHALLENGER_WORSE], code)
    if m > 0:
        code = np.where(lo > -m, _CODE[Verdict.CHALLENGER_NON_INFERIOR], code)
    return np.where(lo > 0, _CODE[Verdict.CHALLENGER_BETTER], code)


def run_paths(
    samples: ArrayLike, estimates: ArrayLike, variances: ArrayLike, design: SequentialDesign
) -> tuple[NDArray, NDArray]:
    """Many simulated runs at once: arrays (runs, looks) -> (verdict code, stopping look or -1) per run.

    The vectorised twin of calling `update` look after look (the unit tests check they agree).
    """
    n = np.broadcast_to(np.asarray(samples), np.shape(estimates))
    usable = (n >= design.min_samples) & (np.asarray(variances) > 0)
    v = np.where(usable, variances, 1.0)
    width = np.where(usable, half_width(v, design.mixture_sd, design.alpha), np.inf)
    low = np.maximum.accumulate(np.asarray(estimates, float) - width, axis=-1)
    high = np.minimum.accumulate(np.asarray(estimates, float) + width, axis=-1)
    codes = classify(low, high, n, design)
    stopped = codes != _CODE[Verdict.CONTINUE]
    first = np.where(stopped.any(axis=-1), stopped.argmax(axis=-1), -1)
    final = np.take_along_axis(codes, np.maximum(first, 0)[..., None], axis=-1)[..., 0]
    return np.where(first >= 0, final, _CODE[Verdict.CONTINUE]), first


def update(design: SequentialDesign, previous: SequentialResult | None, look: Look) -> SequentialResult:
    """The test after one more look at the cumulative evidence. A stopped test stays stopped."""
    if previous is not None and previous.stopped:
        return replace(
            previous, reasons=(*previous.reasons[:1], "the test had stopped; later looks are ignored")
        )
    looks = (previous.looks if previous else 0) + 1
    low = previous.ci_low if previous and previous.ci_low is not None else -math.inf
    high = previous.ci_high if previous and previous.ci_high is not None else math.inf
    p_prev = previous.p_value if previous and previous.p_value is not None else 1.0
    if look.estimate is None or look.variance is None or look.samples < design.min_samples:
        why = look.reason or f"{look.samples} samples, fewer than the burn-in of {design.min_samples}"
        code = int(classify(low, high, look.samples, design))
        verdict = VERDICTS[code]
        ci = (None, None) if previous is None else (previous.ci_low, previous.ci_high)
        p = previous.p_value if previous else None
        return SequentialResult(verdict, looks, look.samples, look.estimate, *ci, p, (why,))
    width = float(half_width(look.variance, design.mixture_sd, design.alpha))
    low, high = max(low, look.estimate - width), min(high, look.estimate + width)
    log_lr = float(log_likelihood_ratio(look.estimate, look.variance, design.null, design.mixture_sd))
    p_value = min(p_prev, 1.0, math.exp(-log_lr) if log_lr < 700 else 0.0)
    verdict = VERDICTS[int(classify(low, high, look.samples, design))]
    reason = _reason(verdict, low, high, look.samples, design)
    return SequentialResult(verdict, looks, look.samples, look.estimate, low, high, p_value, (reason,))


def plan_max_samples(
    min_effect: float, sd: float, *, alpha: float, mixture_sd: float, power: float = 0.8, margin: float = 0.0
) -> int:
    """The smallest sample at which the test declares `min_effect` with probability >= `power`.

    `sd` is the standard deviation of one paired difference, or sqrt(sd_a^2 + sd_b^2) for an A/B split with
    equal arms. Conservative: it asks the bound at that single look to clear 0, and earlier looks only add.
    """
    if not (min_effect > 0 and sd > 0 and 0 < power < 1):
        raise ValueError(f"plan: need min_effect > 0, sd > 0, 0 < power < 1; got {min_effect}, {sd}, {power}")
    grid = np.unique(np.geomspace(2, 1e9, 20_000).astype(np.int64))
    v = sd**2 / grid
    clears = min_effect + margin - stats.norm.ppf(power) * np.sqrt(v) - half_width(v, mixture_sd, alpha) >= 0
    if not clears.any():
        raise ValueError(f"plan: an effect of {min_effect} with sd {sd} needs more than 1e9 samples")
    return int(grid[clears.argmax()])


def _reason(verdict: Verdict, low: float, high: float, n: int, design: SequentialDesign) -> str:
    bounds = f"{1 - design.alpha:.0%} confidence sequence [{low:.4g}, {high:.4g}] after {n} samples"
    what = {
        Verdict.CHALLENGER_BETTER: "is above 0: the challenger is better",
        Verdict.CHALLENGER_NON_INFERIOR: f"is above -{design.margin:g}: the challenger is not worse by the margin",
        Verdict.CHALLENGER_WORSE: f"is below {design.null + 0.0:g}: the challenger is worse",
        Verdict.STOPPED_NO_WINNER: f"still holds 0 at the maximum of {design.max_samples}: no winner",
        Verdict.CONTINUE: "holds 0: continue",
    }[verdict]
    return f"{bounds} {what}"


def _finite(values: ArrayLike, name: str) -> NDArray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: {int((~np.isfinite(array)).sum())} values are NaN or infinite")
    return array

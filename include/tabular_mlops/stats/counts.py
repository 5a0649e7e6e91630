"""Row counts per night: how far from the usual a count may be before it is more than noise."""

from __future__ import annotations

# Two-sided probability below which a night's count is not Poisson noise around the usual count (about 4 sigma).
POISSON_ALPHA = 1e-4


def poisson_band(expected: float, alpha: float = POISSON_ALPHA) -> tuple[float, float]:
    """The counts a Poisson night with mean `expected` stays within but for `alpha` of nights."""
    from scipy.stats import poisson

    return float(poisson.ppf(alpha / 2, expected)), float(poisson.isf(alpha / 2, expected))


def unusual_count(rows: float, expected: float, tolerance: float) -> bool:
    """`rows` lies outside both the configured band (`expected` x (1 +- tolerance)) and Poisson noise: at 11 rows
    a night 18 is +64% but noise (the band is about 1..27), 0 or 60 is not; at 800 the configured band rules."""
    if not expected:
        return False
    low, high = poisson_band(expected)
    low, high = min(low, expected * (1 - tolerance)), max(high, expected * (1 + tolerance))
    return rows < low or rows > high

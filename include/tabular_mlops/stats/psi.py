"""Population stability index between two score distributions, on bins cut at the reference's quantiles."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Empty bins get this share, so one empty bin gives a large but finite PSI (the monitoring stage uses the same).
EMPTY_SHARE = 1e-4


def score_psi(reference: ArrayLike, current: ArrayLike, bins: int = 10) -> float:
    """PSI of `current` against `reference` on up to `bins` quantile bins of the reference (ties merge bins)."""
    ref, cur = np.asarray(reference, float).ravel(), np.asarray(current, float).ravel()
    for name, values in (("reference", ref), ("current", cur)):
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError(f"score PSI: the {name} scores are empty or hold NaN/infinity")
    if bins < 2:
        raise ValueError(f"score PSI: bins must be >= 2, got {bins}")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1) / cur.size
    ref_share, cur_share = np.clip(ref_share, EMPTY_SHARE, None), np.clip(cur_share, EMPTY_SHARE, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))

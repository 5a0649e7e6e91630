"""The champion's score calibrator, kept beside its reference profile: fitted once on the champion's out-of-sample
holdout (isotonic, only where cross-fitting shows it lowers the calibration error; stats/calibration.py), stored
as plain JSON in the reference cache entry, and read back every night for CBPE. A cache entry made before
calibrators existed gets one fitted on demand from the holdout sample it already holds; a champion whose version
records no holdout cannot be calibrated, and the fit says so (the night's estimate is then withheld with that
reason, never guessed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_mlops.core.atomic_files import atomic_write_json
from tabular_mlops.core.contracts import ReferenceCacheFile
from tabular_mlops.stats.calibration import CalibrationFit, fit_calibrator

log = logging.getLogger(__name__)


def holdout_calibration(holdout: pd.DataFrame | None, version: str) -> CalibrationFit:
    """The calibrator chosen on the champion's scored holdout (`score`, `label` columns); rows without a label
    or a score are left out. No holdout: no calibrator, with the reason."""
    if holdout is None or holdout.empty:
        return CalibrationFit(
            None,
            f"champion v{version} records no out-of-sample holdout (its data window ends with its training "
            "window): nothing to calibrate its scores on",
            0,
            0,
        )
    rows = holdout[holdout["label"].notna() & np.isfinite(holdout["score"].astype(float))]
    return fit_calibrator(rows["score"].to_numpy(np.float64), rows["label"].to_numpy().astype(np.int8))


def save_calibration(fit: CalibrationFit, folder: Path) -> None:
    atomic_write_json(folder / ReferenceCacheFile.CALIBRATION, fit.to_dict())


def load_calibration(folder: Path, holdout: pd.DataFrame | None, version: str) -> CalibrationFit:
    """The stored calibrator of a cache entry; an entry without one (made before calibrators) gets it fitted on
    demand from its holdout sample and stored, so the fit happens once."""
    path = folder / ReferenceCacheFile.CALIBRATION
    if path.exists():
        return CalibrationFit.from_dict(json.loads(path.read_text()))
    fit = holdout_calibration(holdout, version)
    try:
        save_calibration(fit, folder)
    except OSError as exc:  # a read-only cache still gets tonight's fit, it is only not kept
        log.warning("calibrator of v%s fitted but not stored in %s: %s", version, folder, exc)
    log.info("calibrator of v%s fitted on demand from its cached holdout: %s", version, fit.reason)
    return fit

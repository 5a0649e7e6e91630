"""skops' module walk reads every imported module's attributes; Airflow's deprecated shims warn on each read.
Reading a model file must not flood a task log with them (issue: 1,160 of 1,170 lines of one task's log)."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from skops.io._utils import get_module
from tabular_mlops.model import trusted_files
from tabular_mlops.model.trusted_files import quiet_module_walk


@pytest.fixture()
def warning_shim():
    """A module shaped like Airflow's deprecated-import shims: reading any attribute warns."""
    shim = types.ModuleType("airflow_like_shim")

    def __getattr__(name: str):
        warnings.warn(
            f"The `airflow.utils.timezone.{name}` attribute is deprecated.", FutureWarning, stacklevel=2
        )
        raise AttributeError(name)

    shim.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[shim.__name__] = shim
    yield shim
    del sys.modules[shim.__name__]


@pytest.fixture()
def nameless_ufunc():
    """A ufunc with no __module__ that no module holds: skops reads its name on every imported module, the
    shims included (in an Airflow task the shims are imported before scipy, so the walk reaches them for real
    ufuncs too)."""
    return np.frompyfunc(lambda x: x, 1, 1)


def _shim_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "airflow.utils.timezone" in str(w.message)]


def test_the_walk_warns_through_the_shims_without_the_filter(warning_shim, nameless_ufunc):
    """The reproduction: skops' module walk reads the shim and warns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_module(nameless_ufunc)
    assert _shim_warnings(caught)


def test_the_walk_is_quiet_about_the_shims_only(warning_shim, nameless_ufunc):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_module_walk():
            get_module(nameless_ufunc)
            warnings.warn("another warning still shows", UserWarning, stacklevel=1)
    assert not _shim_warnings(caught)
    assert any("still shows" in str(w.message) for w in caught)


def test_model_file_checks_and_loads_run_inside_the_quiet_walk():
    """Both places where skops reads a model file use the filter."""
    source = Path(trusted_files.__file__).read_text()
    assert source.count("with quiet_module_walk():") == 2

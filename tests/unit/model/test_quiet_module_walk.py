"""skops' module walk reads every imported module's attributes; Airflow's deprecated shims warn on each read.
Reading a model file must not flood a task log with them (issue: 1,160 of 1,170 lines of one task's log)."""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
from skops.io._utils import get_module
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


# In a fresh interpreter: Airflow's real deprecated shims imported first (as in a task), then skops.io imported the
# way the package imports it (or plainly); prints how many shim warnings were shown.
_IMPORT_AFTER_THE_SHIMS = """
import warnings
warnings.simplefilter("always")
import airflow.utils.timezone, airflow.utils.trigger_rule
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    {how}
print(sum("deprecated" in str(w.message) and "airflow." in str(w.message) for w in caught))
"""


def _shim_warnings_on_import(how: str) -> int:
    import subprocess

    code = _IMPORT_AFTER_THE_SHIMS.format(how=how)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return int(out.stdout.split()[-1])


def test_importing_skops_io_after_airflows_shims_is_quiet():
    """Importing skops.io walks the modules already (its scipy ufunc list): that walk flooded
    report_and_decide's log (1,160 of 1,172 lines) although every model read ran inside the filter."""
    assert _shim_warnings_on_import("import skops.io") > 100  # the reproduction
    assert _shim_warnings_on_import("from tabular_mlops.model.trusted_files import skops_io; skops_io()") == 0

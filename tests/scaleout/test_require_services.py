"""The scale-out test skips only outside CI: in CI a missing PostgreSQL or Redis is a failure, never a skip."""

from __future__ import annotations

import pytest

from tests.support import scaleout_stack as scaleout


def test_missing_services_skip_outside_ci(monkeypatch):
    monkeypatch.setattr(scaleout, "reachable", lambda port: port != scaleout.REDIS_PORT)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis on 127.0.0.1:6379"):
        scaleout.require_services()


def test_missing_services_fail_in_ci(monkeypatch):
    monkeypatch.setattr(scaleout, "reachable", lambda port: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL on 127.0.0.1:5432 and Redis"):
        scaleout.require_services()

"""deploy_model's split step: which step a night takes (read from the deploy log, no service), the bandit's note,
and a service that runs no split answered with a note that says so (nothing changed)."""

import dataclasses
import datetime as dt

import sqlalchemy as sa
from tabular_mlops.core.config import load_params
from tabular_mlops.monitoring.bandit_night import BanditNight
from tabular_mlops.monitoring.run_notes import Links
from tabular_mlops.monitoring.split_night import bandit_note, split_in_force, split_night
from tabular_mlops.stats.bandit import AllocationChange
from tabular_mlops.store.deploy_log import DeployEvent, DeployLog

from tests.support.project import REPO

MODEL = "credit_default"


class ChampionOnly:
    """A service that answers with the champion alone and refuses any change (none must be asked)."""

    url = "http://127.0.0.1:1"

    def state(self):
        return {"strategy": "champion", "challenger": None}

    def prepare_challenger(self):
        raise AssertionError("no challenger is loaded for a night with no split")

    reload_champion = prepare_challenger

    def switch(self, strategy, actor, reason):
        raise AssertionError("no switch for a night with no split")


def test_the_split_step_is_taken_while_the_log_says_a_split_is_in_force(tmp_path):
    params = load_params(REPO / "params.yaml")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert not split_in_force(engine, MODEL, params.deploy)
    assert split_in_force(
        engine, MODEL, dataclasses.replace(params.deploy, strategy="bandit")
    )  # params.yaml's
    DeployLog(engine).record(
        DeployEvent(
            "2026-03-01T10:00:00+00:00",
            MODEL,
            "strategy_change",
            "champion",
            "ab_test",
            "ops",
            "1",
            "2",
            "why",
            {},
        )  # fmt: skip
    )
    assert split_in_force(engine, MODEL, params.deploy)


def test_a_service_without_a_split_gets_a_note_and_nothing_else(tmp_path, monkeypatch):
    params = load_params(REPO / "params.yaml")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setattr("tabular_mlops.monitoring.split_night.champion_version", lambda name: "1")
    note, summary = split_night(MODEL, params.schema, params.deploy, params.business_value, engine,
                                dt.date(2026, 4, 1), ChampionOnly(), "test", Links())  # fmt: skip
    assert note.startswith("**NOTHING TO DECIDE**: the service runs champion, not a live split")
    assert summary == {"why": note.removeprefix("**NOTHING TO DECIDE**: ")}


def test_the_bandit_note_shows_the_move_and_the_evidence_per_version():
    change = AllocationChange(3, "t", {"1": 0.5, "2": 0.5}, {"1": 0.2, "2": 0.8}, {"1": 0.16, "2": 0.84},
                              {"1": 800, "2": 790}, {"1": 41.2, "2": 55.0}, "2 is best with probability 0.840")  # fmt: skip
    night = BanditNight("2026-04-01", "2026-02-28", "2026-03-02", "business value per row (EUR)", {"1": 800, "2": 790},
                        {"1": 41.2, "2": 55.0}, change.before, change.after, change, "the summary")  # fmt: skip
    note = bandit_note(night, "", MODEL, "2", Links())
    assert note.startswith("**BANDIT MOVED** credit_default on 2026-04-01: v1 0.50 -> 0.20, v2 0.50 -> 0.80")
    assert "800 rows, mean 41.2" in note and "2026-02-28 to 2026-03-02" in note and "the summary" in note
    kept = bandit_note(dataclasses.replace(night, change=None), "", MODEL, "2", Links())
    assert kept.startswith("**BANDIT KEPT**")
    assert (
        bandit_note(None, "nothing new", MODEL, "2", Links()) == "**BANDIT WAIT** credit_default: nothing new"
    )

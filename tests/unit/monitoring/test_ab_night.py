"""The nightly A/B decision: the per-row metric, both arms' figures from the log's rows, the two-sample
always-valid test carried night to night (a re-run starts from the night before), its verdict as a rollout
check, and a seeded simulation of the split looked at every night on the pre-registered per-row log loss."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from tabular_mlops.core.config import AbTestConfig, load_params
from tabular_mlops.monitoring.ab_night import AbNight, ab_check, judge_ab, metric_per_row, previous_test
from tabular_mlops.monitoring.shadow_analysis import sequential_design
from tabular_mlops.monitoring.split_window import LiveSplit
from tabular_mlops.stats.paired import per_row_loss
from tabular_mlops.stats.sequential import VERDICTS, Verdict, plan_max_samples, run_paths
from tabular_mlops.store.deploy_log import AB_TEST_NIGHT, DeployEvent, DeployLog

from tests.support.project import REPO

SPLIT = LiveSplit("ab_test", "1", "2", dt.datetime(2026, 3, 1, 10))
AB = AbTestConfig(share=0.5, metric="log_loss", higher_is_better=False)


def _arm(rng, n, noise):
    """Scores of one arm and its labels: the truth a logit, the score the truth with `noise` on the logit."""
    logit = rng.normal(-1.5, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return 1 / (1 + np.exp(-(logit + rng.normal(0, noise, n)))), y


def _rows(rng, n, champion_noise, challenger_noise, unlabelled=0):
    parts = []
    for version, noise in (("1", champion_noise), ("2", challenger_noise)):
        s, y = _arm(rng, n, noise)
        y[:unlabelled] = np.nan
        parts.append(pd.DataFrame({"model_version": version, "score": s, "decision": (s > 0.5).astype(int),
                                   "label": y}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _deploy(max_samples=20_000, mixture_sd=0.02):
    deploy = load_params(REPO / "params.yaml").deploy
    import dataclasses

    sequential = dataclasses.replace(deploy.sequential, max_samples=max_samples, mixture_sd=mixture_sd)
    return dataclasses.replace(deploy, sequential=sequential, ab_test=AB)


def test_the_metric_per_row():
    y, s = np.array([1.0, 0.0]), np.array([0.8, 0.3])
    assert metric_per_row("log_loss", y, s) == pytest.approx(per_row_loss(y, s, "log_loss"))
    assert metric_per_row("brier", y, s) == pytest.approx([0.04, 0.09])
    assert list(metric_per_row("positive_label", y, s)) == [1.0, 0.0]
    with pytest.raises(ValueError, match="deploy.ab_test.metric"):
        metric_per_row("accuracy", y, s)


def test_a_better_arm_is_declared_with_its_figures_and_unlabelled_rows_wait():
    rng = np.random.default_rng(1)
    night = judge_ab(_rows(rng, 12_000, 1.0, 0.3, unlabelled=50), SPLIT, AB, _deploy(), dt.date(2026, 4, 2),
                     dt.date(2026, 3, 3), None)  # fmt: skip
    assert night.champion.answered == 12_000 and night.champion.matured == 11_950
    assert night.challenger.mean < night.champion.mean
    assert night.test.verdict is Verdict.CHALLENGER_BETTER and night.test.ci_low > 0
    check = ab_check(night)
    assert check.passed is True and check.reason.startswith("test challenger_better: 95% confidence sequence")
    assert "log_loss per row: champion v1" in check.reason and "on 11,950 matured rows" in check.reason
    assert "always-valid p = " in check.reason
    assert AbNight.from_dict(night.to_dict()) == night


def test_identical_arms_continue_then_stop_without_a_winner_and_a_worse_one_fails():
    rng = np.random.default_rng(2)
    same = judge_ab(
        _rows(rng, 500, 1.0, 1.0), SPLIT, AB, _deploy(), dt.date(2026, 4, 2), dt.date(2026, 3, 3), None
    )
    assert same.test.verdict is Verdict.CONTINUE and ab_check(same).passed is None
    at_max = judge_ab(_rows(rng, 2000, 1.0, 1.0), SPLIT, AB, _deploy(max_samples=2000), dt.date(2026, 4, 3),
                      dt.date(2026, 3, 4), same.test)  # fmt: skip
    assert at_max.test.verdict is Verdict.STOPPED_NO_WINNER and ab_check(at_max).passed is False
    worse = judge_ab(
        _rows(rng, 12_000, 0.3, 1.0), SPLIT, AB, _deploy(), dt.date(2026, 4, 2), dt.date(2026, 3, 3), None
    )
    assert worse.test.verdict is Verdict.CHALLENGER_WORSE and ab_check(worse).passed is False
    empty = judge_ab(
        _rows(rng, 0, 1.0, 1.0), SPLIT, AB, _deploy(), dt.date(2026, 4, 2), dt.date(2026, 3, 3), None
    )
    assert empty.test.verdict is Verdict.CONTINUE and "each needs at least 2" in ab_check(empty).reason


def test_the_test_is_carried_from_the_night_before_and_a_rerun_starts_there(tmp_path):
    log = DeployLog(sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    rng = np.random.default_rng(3)
    nights = []
    previous = None
    for i, night in enumerate((dt.date(2026, 4, 1), dt.date(2026, 4, 2))):
        previous = previous_test(log, "credit_default", SPLIT, night)
        result = judge_ab(_rows(rng, 300 * (i + 1), 1.0, 1.0), SPLIT, AB, _deploy(), night, night, previous)
        detail = result.to_dict()
        log.record(
            DeployEvent(
                "t", "credit_default", AB_TEST_NIGHT, "ab_test", "ab_test", "a", "1", "2", "r", detail
            )
        )
        nights.append(result)
    assert previous_test(log, "credit_default", SPLIT, dt.date(2026, 4, 3)) == nights[1].test
    assert previous_test(log, "credit_default", SPLIT, dt.date(2026, 4, 2)) == nights[0].test  # a re-run
    assert previous_test(log, "credit_default", SPLIT, dt.date(2026, 4, 1)) is None
    other = LiveSplit("ab_test", "1", "2", dt.datetime(2026, 3, 20))  # a new split of the same versions
    assert previous_test(log, "credit_default", other, dt.date(2026, 4, 3)) is None


def test_the_split_on_per_row_log_loss_looked_at_every_night_has_power_and_few_false_winners():
    """Seeded simulation of the nightly decision's own statistic: the difference of the arms' mean log loss,
    1,000 runs, a look every night. Sized with plan_max_samples from a pilot, as params.yaml's design should be."""
    rng = np.random.default_rng(4)
    pa, ya = _arm(rng, 200_000, 1.0)
    pb, yb = _arm(rng, 200_000, 0.6)
    la, lb = per_row_loss(ya, pa, "log_loss"), per_row_loss(yb, pb, "log_loss")
    effect, sd = float(la.mean() - lb.mean()), math.sqrt(float(la.var() + lb.var()))
    per_night = 250
    planned = math.ceil(plan_max_samples(effect, sd, alpha=0.05, mixture_sd=effect) / per_night) * per_night
    design = sequential_design(_deploy(max_samples=planned, mixture_sd=effect))
    runs = 1000

    def paths(challenger_noise):
        r = np.random.default_rng(5 if challenger_noise < 1 else 6)
        a = np.stack([per_row_loss(*reversed(_arm(r, planned, 1.0)), "log_loss") for _ in range(runs)])
        b = np.stack(
            [per_row_loss(*reversed(_arm(r, planned, challenger_noise)), "log_loss") for _ in range(runs)]
        )
        n = np.arange(per_night, planned + 1, per_night)
        mean_a, mean_b = np.cumsum(a, 1)[:, n - 1] / n, np.cumsum(b, 1)[:, n - 1] / n
        var = lambda x, m: (np.cumsum(x**2, 1)[:, n - 1] - n * m**2) / (n - 1) / n  # noqa: E731
        return run_paths(n, mean_a - mean_b, var(a, mean_a) + var(b, mean_b), design)[0]

    better, same = paths(0.6), paths(1.0)
    share = lambda codes, v: float(np.mean(codes == VERDICTS.index(v)))  # noqa: E731
    assert share(better, Verdict.CHALLENGER_BETTER) >= 0.80
    assert share(same, Verdict.CHALLENGER_BETTER) + share(same, Verdict.CHALLENGER_WORSE) <= 0.05
    assert planned // per_night >= 10  # looked at every night, many nights

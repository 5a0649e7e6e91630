"""The estimated harm in words: which estimator decided and why, with its figures. The bug: importance
weighting's overlap check overruled CBPE and the reason read "drop -0.024 <= 0.03; importance weighting: no
overlap", i.e. "not harmed", on a night the decision retrained for harm."""

from __future__ import annotations

from tabular_mlops.monitoring.harm import estimated_harm
from tabular_mlops.stats.metrics import MetricEstimate, PerformanceEstimate, withheld

NO_OVERLAP = (
    "no overlap: a classifier tells tonight's rows from the reference's (domain ROC AUC 0.998 >= 0.99), so no "
    "reference row stands for them"
)
PARTLY_BEYOND = (
    "no overlap for 41% of tonight's rows (density ratio above max_weight=20; at most max_unsupported_share=0.05): "
    "the reference holds nothing like them"
)


def _estimate(method: str, value: float, half_width: float = 0.02) -> PerformanceEstimate:
    figure = MetricEstimate(value, value - half_width, value + half_width)
    return PerformanceEstimate(method, 2000, {"roc_auc": figure})


HOLDOUT = _estimate("realized", 0.790, 0.0)
BEYOND = withheld("importance_weighting", 2000, NO_OVERLAP, domain_auc=0.998, unsupported_share=0.6)


def test_the_overlap_check_overruling_cbpe_says_cbpe_was_within_the_limit_but_not_trusted():
    harm = estimated_harm(HOLDOUT, _estimate("cbpe", 0.814), BEYOND, 0.03)
    assert harm.harmful(0.03) and harm.unsupported == NO_OVERLAP
    assert harm.text == (
        "estimated ROC AUC 0.814 [0.794, 0.834] (CBPE) vs 0.790 on the holdout: CBPE drop -0.024 <= "
        "monitor.max_estimated_drop 0.03, but no overlap with the holdout (importance weighting's domain ROC AUC "
        "0.998 >= 0.99): the model extrapolates, CBPE not trusted"
    )


def test_rows_partly_beyond_the_holdout_name_their_share_and_its_limit():
    partly = withheld("importance_weighting", 2000, PARTLY_BEYOND, domain_auc=0.82, unsupported_share=0.41)
    harm = estimated_harm(HOLDOUT, _estimate("cbpe", 0.800), partly, 0.03)
    assert harm.harmful(0.03)
    assert harm.text.endswith(
        "CBPE drop -0.010 <= monitor.max_estimated_drop 0.03, but no holdout row like 41% of tonight's rows "
        "(importance weighting's max_unsupported_share 5%): the model extrapolates, CBPE not trusted"
    )


def test_a_drop_beyond_the_limit_and_no_overlap_both_say_harm():
    harm = estimated_harm(HOLDOUT, _estimate("cbpe", 0.740), BEYOND, 0.03)
    assert harm.text.endswith(
        "CBPE drop 0.050 > monitor.max_estimated_drop 0.03, and no overlap with the holdout (importance "
        "weighting's domain ROC AUC 0.998 >= 0.99): the model extrapolates"
    )
    assert "not trusted" not in harm.text


def test_with_both_estimates_the_reason_names_the_method_of_the_largest_drop():
    harm = estimated_harm(HOLDOUT, _estimate("cbpe", 0.781), _estimate("importance_weighting", 0.749), 0.03)
    assert harm.drop is not None and round(harm.drop, 3) == 0.041 and harm.method == "cbpe"
    assert harm.text == (
        "estimated ROC AUC 0.781 [0.761, 0.801] (CBPE), 0.749 [0.729, 0.769] (importance weighting) vs 0.790 on "
        "the holdout: largest drop 0.041 (importance weighting) > monitor.max_estimated_drop 0.03"
    )
    within = estimated_harm(HOLDOUT, _estimate("cbpe", 0.781), _estimate("importance_weighting", 0.776), 0.03)
    assert within.text.endswith(
        "largest drop 0.014 (importance weighting) <= monitor.max_estimated_drop 0.03"
    )
    assert not within.harmful(0.03)


def test_a_small_effective_sample_is_no_overlap_and_leaves_cbpe_to_decide():
    small = withheld(
        "importance_weighting", 2000, "effective sample size 120 of 3000 reference rows", domain_auc=0.7
    )
    harm = estimated_harm(HOLDOUT, _estimate("cbpe", 0.781), small, 0.03)
    assert harm.unsupported is None and not harm.harmful(0.03)
    assert harm.text.endswith("on the holdout: CBPE drop 0.009 <= monitor.max_estimated_drop 0.03")


def test_no_estimate_at_all_but_no_overlap_says_the_overlap_decided():
    no_cbpe = withheld("cbpe", 2000, "no calibrator: champion v2 records no out-of-sample holdout")
    harm = estimated_harm(HOLDOUT, no_cbpe, BEYOND, 0.03)
    assert harm.drop is None and harm.harmful(0.03)
    assert harm.text == (
        "no estimated ROC AUC (CBPE: no calibrator: champion v2 records no out-of-sample holdout), but no overlap "
        "with the holdout (importance weighting's domain ROC AUC 0.998 >= 0.99): the model extrapolates"
    )
    both = estimated_harm(HOLDOUT, no_cbpe, withheld("importance_weighting", 40, "40 rows"), 0.03)
    assert (
        both.text
        == "no estimated ROC AUC (CBPE: no calibrator: champion v2 records no out-of-sample holdout; importance weighting: 40 rows)"
    )

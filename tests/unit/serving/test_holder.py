"""Blue-green in one process: a swap keeps the old model warm, a rollback swaps back at once."""

import pytest
from tabular_mlops.serving.holder import ModelHolder

from tests.support.scoring_service import served


def test_swap_keeps_the_previous_model_warm_and_rollback_swaps_back():
    holder = ModelHolder()
    with pytest.raises(LookupError):
        holder.current  # noqa: B018
    with pytest.raises(LookupError):
        holder.rollback()
    v1, v2 = served(object(), "1"), served(object(), "2")
    holder.swap(v1)
    holder.swap(v2)
    assert holder.current is v2 and holder.previous is v1
    now, left = holder.rollback()
    assert (now, left) == (v1, v2) and holder.current is v1 and holder.rolled_back_from == "2"
    holder.swap(v2)  # a new swap ends the rollback
    assert holder.rolled_back_from is None and holder.previous is v1


def test_reloading_the_same_version_does_not_lose_the_previous_one():
    holder = ModelHolder()
    v1, v2, v2_again = served(object(), "1"), served(object(), "2"), served(object(), "2")
    for s in (v1, v2, v2_again):
        holder.swap(s)
    assert holder.current is v2_again and holder.previous is v1

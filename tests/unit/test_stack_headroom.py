"""with_stack_headroom: the same call, one frame deeper, with about 1 MiB of frame stack below it."""

import pytest

from tests.support import stack_headroom
from tests.support.stack_headroom import with_stack_headroom


def test_it_returns_what_the_call_returns_and_passes_arguments_through():
    assert with_stack_headroom(divmod, 17, 5) == (3, 2)
    assert with_stack_headroom(dict, a=1, fn=2) == {"a": 1, "fn": 2}


def test_errors_propagate_unchanged():
    with pytest.raises(ZeroDivisionError):
        with_stack_headroom(divmod, 1, 0)


def test_the_calling_frame_reserves_a_mebibyte():
    assert stack_headroom._call.__code__.co_stacksize * 8 >= 1 << 20


def test_deep_recursion_below_it_still_works():
    def depth(n: int) -> int:
        return 0 if n == 0 else 1 + depth(n - 1)

    assert with_stack_headroom(depth, 500) == 500

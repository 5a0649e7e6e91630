"""Call deep Python code with room on CPython's frame stack (a workaround for python/cpython#142183).

CPython 3.11 keeps Python frames in 16 KiB chunks and unmaps a chunk as soon as the frame at its base returns
(upstream keeps one spare chunk since python/cpython#145789, in the 3.13 and 3.14 branches). Code that loops at a
call depth right on a chunk boundary maps and unmaps a chunk on every call there: under `dag.test()` a night's
Evidently reports spent more CPU in mmap, munmap and page faults than in Python, and whether a given entry depth
hits a boundary is luck. Calling through one frame of about 1 MiB that does not fit the current chunk makes CPython
allocate a 2 MiB one, with that frame at its base and about 1 MiB above it: room for more frames than the recursion
limit allows, so the work below crosses no boundary."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# Slots of 8 bytes: a frame of 1 MiB makes CPython allocate a 2 MiB chunk (sizes double from 16 KiB), leaving
# 1 MiB for the frames below. Only the pages the frames touch are ever faulted in.
_HEADROOM_SLOTS = 1 << 17


def _call(fn: Callable[..., R], args: tuple[object, ...], kwargs: dict[str, object]) -> R:
    return fn(*args, **kwargs)


# A larger evaluation stack than the code needs is only unused space: the compiler sized it as an upper bound, and
# only the slots in use are ever read or cleared. (A frame object made for `_call`, for a traceback, copies its
# frame: about 1 MiB of memory for as long as the traceback lives.)
_call.__code__ = _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + _HEADROOM_SLOTS)


def with_stack_headroom(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)`, run at the base of a fresh frame-stack chunk."""
    return _call(fn, args, kwargs)

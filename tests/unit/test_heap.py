"""The garbage collector's pause around allocation-heavy blocks (chatbridge.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chatbridge.heap import collection_paused


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_enabled")
def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_the_collector_comes_back_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_collector_someone_else_disabled_stays_disabled() -> None:
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()

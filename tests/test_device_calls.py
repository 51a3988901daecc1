"""Time limits on PortAudio calls that wait for the sound server (``rtaudio.devices``).

The calls here stand in for PortAudio ones that block (the frozen sound server itself is
exercised end to end in ``test_cli_monitor``): what is checked is the waiting, giving up,
one-at-a-time and clean-up logic around them."""

from __future__ import annotations

import threading
import time

import pytest

from rtaudio import devices
from rtaudio.devices import DeviceError


def _settled() -> None:
    """Wait for the calls a test gave up on to return (they are let go at its end)."""
    deadline = time.monotonic() + 5
    while devices.stuck() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not devices.stuck()


def test_a_call_that_answers_gives_its_result_or_its_error() -> None:
    assert devices.call_limited(lambda: 42, "asking", limit=1.0) == 42

    def broken() -> int:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        devices.call_limited(broken, "asking", limit=1.0)
    assert not devices.stuck()


def test_a_call_that_does_not_answer_is_given_up_and_blocks_the_next_until_it_returns() -> None:
    release = threading.Event()
    discarded: list[str] = []
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match=r"opening: no answer within 0.3 s"):
            devices.call_limited(
                lambda: release.wait() and "late stream", "opening", 0.3, None, discarded.append
            )
        assert 0.3 <= time.monotonic() - t0 < 2.0
        assert devices.stuck()
        # while it still waits, the next call fails at once instead of waiting behind it
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="an earlier call still waits"):
            devices.call_limited(lambda: 1, "re-scanning", limit=5.0)
        assert time.monotonic() - t0 < 0.5
        with pytest.raises(DeviceError, match="not answering"):
            devices.refresh()  # whether PortAudio had started in this process or not
    finally:
        release.set()
    _settled()
    assert discarded == ["late stream"]  # the result nobody waited for was handed back
    assert devices.call_limited(lambda: "again", "opening", limit=1.0) == "again"


def test_a_stopped_engine_stops_waiting_at_once() -> None:
    release, cancel = threading.Event(), threading.Event()
    threading.Timer(0.2, cancel.set).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="opening: cancelled"):
            devices.call_limited(release.wait, "opening", limit=30.0, cancel=cancel)
        assert time.monotonic() - t0 < 1.0
    finally:
        release.set()
    _settled()


class _Stream:
    """Aborting it takes as long as ``release`` is not set (a frozen sound server)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = False

    def abort(self) -> None:
        self.release.wait()

    def close(self) -> None:
        self.closed = True


def test_a_stream_that_does_not_close_is_left_to_close_on_its_own() -> None:
    stream = _Stream()
    try:
        t0 = time.monotonic()
        assert devices.close_stream(stream, limit=0.3) is False
        assert time.monotonic() - t0 < 1.0
        assert devices.stuck() and not stream.closed
        with pytest.raises(DeviceError, match="cannot re-scan audio devices: the sound server"):
            devices.refresh()  # PortAudio's restart would wait for that stream
    finally:
        stream.release.set()
    _settled()
    assert stream.closed
    quick = _Stream()
    quick.release.set()
    assert devices.close_stream(quick) is True and quick.closed
    assert devices.close_stream(None) is True

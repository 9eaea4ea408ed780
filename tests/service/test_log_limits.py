"""WarningLimiter with a clock the test sets."""

from __future__ import annotations

import logging
import threading

import pytest

from service.log_limits import WARNING_INTERVAL_SECONDS, WarningLimiter

ONLINE = "online read failed for user %s: %s"
ORDERS = "could not read the past orders of user %s"


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.limits"]


def test_first_logged_then_counted(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = WarningLimiter(interval=10.0, clock=clock)
    logger = logging.getLogger("test.limits")

    with caplog.at_level("WARNING", logger="test.limits"):
        for user in range(5):
            limiter.warning(logger, ONLINE, f"u{user}", "lost")
        clock.now += 9.9
        limiter.warning(logger, ONLINE, "u5", "lost")
        clock.now += 0.1
        limiter.warning(logger, ONLINE, "u6", "lost")
        limiter.warning(logger, ONLINE, "u7", "lost")
        clock.now += 10.0
        limiter.warning(logger, ONLINE, "u8", "lost")

    messages = _messages(caplog)
    assert messages[0] == "online read failed for user u0: lost"
    # u1 to u5 fall within 10 s of u0.
    assert messages[1] == (
        "online read failed for user u6: lost "
        "(5 more like it suppressed since the last one logged)"
    )
    assert messages[2] == (
        "online read failed for user u8: lost "
        "(1 more like it suppressed since the last one logged)"
    )
    assert len(messages) == 3
    assert getattr(caplog.records[1], "fields", None) == {"suppressed": 5}


def test_messages_limited_separately(caplog: pytest.LogCaptureFixture) -> None:
    limiter = WarningLimiter(interval=10.0, clock=Clock())
    logger = logging.getLogger("test.limits")

    with caplog.at_level("WARNING", logger="test.limits"):
        limiter.warning(logger, ONLINE, "u0", "lost")
        limiter.warning(logger, ORDERS, "u0")
        limiter.warning(logger, ONLINE, "u1", "lost")
        limiter.warning(logger, ORDERS, "u1")

    assert _messages(caplog) == [
        "online read failed for user u0: lost",
        "could not read the past orders of user u0",
    ]


def test_quiet_message_logged_in_full(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = WarningLimiter(interval=10.0, clock=clock)
    logger = logging.getLogger("test.limits")

    with caplog.at_level("WARNING", logger="test.limits"):
        limiter.warning(logger, ORDERS, "u0")
        clock.now += 60.0
        limiter.warning(logger, ORDERS, "u1")

    assert _messages(caplog) == [
        "could not read the past orders of user u0",
        "could not read the past orders of user u1",
    ]


def test_threads_count_every_warning() -> None:
    clock = Clock()
    limiter = WarningLimiter(interval=10.0, clock=clock)
    threads_count, calls = 8, 2000
    admitted: list[int | None] = []
    lock = threading.Lock()

    def admit_many() -> None:
        results = [limiter.admit(ONLINE) for _ in range(calls)]
        with lock:
            admitted.extend(results)

    threads = [threading.Thread(target=admit_many) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.now += 10.0

    assert [count for count in admitted if count is not None] == [0]
    assert limiter.admit(ONLINE) == threads_count * calls - 1


def test_default_interval_ten_seconds() -> None:
    assert WARNING_INTERVAL_SECONDS == 10.0
    assert WarningLimiter().interval == WARNING_INTERVAL_SECONDS


def test_flush_logs_end_of_burst(caplog: pytest.LogCaptureFixture) -> None:
    limiter = WarningLimiter(interval=10.0, clock=Clock())
    logger = logging.getLogger("test.limits")

    with caplog.at_level("WARNING", logger="test.limits"):
        for user in range(5):
            limiter.warning(logger, ONLINE, f"u{user}", "lost")
        limiter.warning(logger, ORDERS, "u0")
        limiter.warning(logger, ORDERS, "u1")
        limiter.flush()
        limiter.flush()

    assert sorted(_messages(caplog)) == [
        "could not read the past orders of user u0",
        "could not read the past orders of user u1",
        "online read failed for user u0: lost",
        # u4 is the last of the four suppressed after u0.
        "online read failed for user u4: lost "
        "(3 more like it suppressed since the last one logged)",
    ]


def test_flush_without_suppressed_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = WarningLimiter(interval=10.0, clock=Clock())
    logger = logging.getLogger("test.limits")

    with caplog.at_level("WARNING", logger="test.limits"):
        limiter.warning(logger, ONLINE, "u0", "lost")
        limiter.flush()

    assert _messages(caplog) == ["online read failed for user u0: lost"]

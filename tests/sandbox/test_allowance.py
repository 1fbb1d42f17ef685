"""The engine asks its caller's meter, while code runs, whether the session may go on:
at once, then every CHECK_SECONDS; told to stop, it stops the code and closes; a meter
that fails lets the code run on. No meter, no checks."""

import time

import pytest

from sandbox import allowance
from sandbox.allowance import Checks
from sandbox.session import open_session, run_to_end
from tests.sandbox.engine import container_exists


class StopAfter:
    """A meter that says stop once the running execution has been active ``ms``."""

    def __init__(self, ms: int, why: str = "the test's allowance is used up."):
        self.ms, self.why = ms, why
        self.asked: list[tuple] = []

    def stop_reason(self, *, session_id, running_ms: int) -> str:
        self.asked.append((session_id, running_ms))
        return self.why if running_ms >= self.ms else ""


class Failing:
    def stop_reason(self, **_) -> str:
        raise ConnectionError("the database is away")


def test_the_first_check_is_due_at_once_then_every_check_seconds(monkeypatch):
    monkeypatch.setattr(allowance, "CHECK_SECONDS", 0.05)
    checks = Checks(StopAfter(0), time.monotonic())

    assert checks.due() and not checks.due()
    time.sleep(0.06)
    assert checks.due()


def test_without_a_meter_no_check_is_ever_due():
    checks = Checks(None, time.monotonic() - 60)
    assert not checks.due() and checks.next == float("inf")


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_image")
def test_a_meter_that_says_stop_stops_the_code_and_closes_the_session():
    meter = StopAfter(1000)

    with open_session(purpose="test", meter=meter) as session:
        began = time.monotonic()
        status = run_to_end(session.python("import time; time.sleep(10); print('too far')"))
        took = time.monotonic() - began
        assert session.closed and session.out_of_credit == meter.why

    assert 1 <= took < 3
    assert status["status"] == "killed"
    assert status["message"] == f"Stopped: {meter.why}"
    assert {asked for asked, _ in meter.asked} == {session.record.pk}
    assert not container_exists(session.record.container_name)


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_image")
def test_a_meter_that_fails_lets_the_code_run_on():
    with open_session(purpose="test", meter=Failing()) as session:
        status = run_to_end(session.python("import time; time.sleep(0.6); print('done')"))
        assert not session.closed and not session.out_of_credit

    assert status["status"] == "ok"

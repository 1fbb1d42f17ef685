"""A session announces its close (sandbox.signals.session_closed) once, with its
record, whatever a receiver does; the engine knows nothing of who listens."""

import logging

import pytest

from sandbox import services
from sandbox.containers import Spec
from sandbox.session import Session
from sandbox.signals import session_closed

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """What a listener hears of closes while the test runs."""
    closes = []
    session_closed.connect(
        lambda *, session, **_: closes.append(session), weak=False, dispatch_uid="test-heard"
    )
    yield closes
    session_closed.disconnect(dispatch_uid="test-heard")


def unstarted_session(workspace=None) -> Session:
    """A session whose sandbox never started: closing it needs no Docker."""
    record = services.sandbox_session_create(
        workspace=workspace, started_by=None, purpose="test", runtime="runc", image="x", owner=""
    )
    return Session(record=record, spec=Spec.default())


def test_a_session_announces_its_close_once_with_its_closed_record(team, heard):
    session = unstarted_session(team.workspace)

    session.close()
    session.close()

    assert heard == [session.record]
    assert (heard[0].status, heard[0].end_reason) == ("closed", "closed")


def test_a_failing_listener_never_breaks_the_close(heard, caplog):
    def failing(**_):
        raise RuntimeError("listener down")

    session_closed.connect(failing, weak=False, dispatch_uid="test-failing")
    session = unstarted_session()
    try:
        with caplog.at_level(logging.ERROR, logger="sandbox.session"):
            session.close()
    finally:
        session_closed.disconnect(dispatch_uid="test-failing")

    assert session.closed and heard == [session.record]
    assert "failed at the close of session" in caplog.text

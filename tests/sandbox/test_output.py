"""Large output through a real sandbox under runc and gVisor: a huge single write, a
flood of lines, the same from a shell command. Each ends capped with the truncation
notice, keeps a gap-free beginning of what was printed, and the session runs the next
execution, also once Python has had to start afresh."""

import pytest

from sandbox.session import open_session
from tests.sandbox.test_session import run, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]

MIB = 1024 * 1024
FLOOD_LINES = 200_000


@pytest.fixture(params=["runc", "runsc"])
def runtime(request) -> str:
    return request.param


def assert_capped(events, status, expected_start: str, limit: int = MIB) -> None:
    out = text(events)
    assert len(out.encode()) == limit
    assert expected_start.startswith(out)  # a beginning, with nothing lost in between
    assert "[output truncated:" in text(events, "stderr")
    assert status["status"] == "ok" and status["truncated"] is True


def assert_goes_on(session) -> None:
    """The next execution runs, and so does one after Python was killed and restarted."""
    events, status = run(session.python("print('next')"))
    assert (text(events), status["status"]) == ("next\n", "ok")
    _, status = run(session.python("import os\nos._exit(3)"))
    assert status["status"] == "killed"
    events, status = run(session.python("print('fresh')"))
    assert (text(events), status["status"]) == ("fresh\n", "ok")


def test_a_50_mb_single_write_is_capped_and_the_session_goes_on(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.python("import sys\nsys.stdout.write('x' * (50 << 20))"))
        assert_capped(events, status, "x" * MIB)
        assert "52428800" in [e["data"]["text/plain"] for e in events if e["type"] == "result"]
        assert_goes_on(session)


def test_a_flood_of_printed_lines_is_capped_and_the_session_goes_on(runtime):
    lines = "".join(f"{i}\n" for i in range(FLOOD_LINES))
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.python(f"for i in range({FLOOD_LINES}):\n    print(i)"))
        assert_capped(events, status, lines)
        assert_goes_on(session)


def test_a_huge_line_from_a_shell_command_is_capped_and_the_session_goes_on(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.shell("head -c 50000000 /dev/zero | tr '\\0' y"))
        assert_capped(events, status, "y" * MIB)
        assert_goes_on(session)


def test_output_made_of_escaped_characters_arrives_whole(runtime):
    # Control characters travel as \u0001 in the JSON events: six bytes each, so the
    # capped megabyte is a six-megabyte line on the way.
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.python("print('\\x01' * (3 << 20))"))
        assert_capped(events, status, "\x01" * MIB)
        assert_goes_on(session)


def test_a_forked_child_still_prints_through_the_kernel(runtime):
    # The kernel keeps its pid instead of asking on every write: a forked child must
    # still be told apart, or its output would wait for a thread it does not have.
    code = (
        "import os\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print('from the child', flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('from the parent')"
    )
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.python(code))
    assert status["status"] == "ok"
    assert text(events) == "from the child\nfrom the parent\n"

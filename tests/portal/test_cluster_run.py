"""cluster_bench's verdict: which outcomes of its faults held, from a report's figures."""

from portal.cluster_load import REDIS_LINES
from portal.cluster_run import _redis_recorded, checks


def report(**changes) -> dict:
    """A run in which everything held; ``changes`` break one part of it."""
    base = {
        "load": {"turns": 20, "complete_and_in_order": 20, "foreign_events": 0},
        "stop": {"passed": True},
        "kill": {
            "ended_within_bound": True,
            "later_turns_answered": 2,
            "sandboxes_of_killed_worker_left": [],
        },
        "redis_restart": {"all_answered": True, "nothing_recorded_lost": True},
        "recorded": {"double_charges": 0, "open_sessions": 0},
        "orphan_containers": [],
    }
    for part, figures in changes.items():
        base[part] = {**base[part], **figures}
    return base


def failed(run: dict) -> list[str]:
    return [name for name, held in checks(run).items() if not held]


def test_it_holds_when_every_outcome_holds():
    assert failed(report()) == []


def test_a_killed_workers_turn_the_browser_never_saw_end_fails_the_run():
    assert failed(report(kill={"ended_within_bound": False})) == [
        "kill: cut turns ended in the browser within the bound"
    ]


def test_a_line_missing_from_the_record_after_the_redis_restart_fails_the_run():
    redis = {"all_answered": True}
    found = {"turns": {"a": {"stdout_lines": REDIS_LINES}, "b": {"stdout_lines": 12}}}

    _redis_recorded(redis, found, ["a", "b"])

    assert redis["recorded_lines"] == [REDIS_LINES, 12]
    assert failed(report(redis_restart=redis)) == ["redis restart: nothing recorded lost"]


def test_a_turn_that_failed_under_the_redis_restart_fails_the_run():
    assert failed(report(redis_restart={"all_answered": False})) == [
        "redis restart: running turns answered"
    ]

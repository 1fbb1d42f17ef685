"""cluster_bench's client side: what a socket saw of a turn, line by line."""

from portal.cluster_load import Seen, _take


def stdout(turn: str, text: str) -> dict:
    return {"type": "stdout", "turn": turn, "call": 1, "text": text}


def test_it_joins_lines_split_across_output_chunks() -> None:
    seen = Seen()
    _take({"type": "turn_started", "turn": "t1"}, seen, 10.0)
    _take(stdout("t1", "0 9.5\n1 9."), seen, 10.0)
    _take(stdout("t1", "75\n2 9.9\n"), seen, 10.0)

    assert seen.sequence == [0, 1, 2]
    assert [round(ms) for ms in seen.latencies] == [500, 250, 100]
    assert seen.complete(3)


def test_it_counts_events_of_another_turn_as_foreign() -> None:
    seen = Seen()
    _take({"type": "turn_started", "turn": "t1"}, seen, 1.0)
    _take(stdout("t2", "0 1.0\n"), seen, 1.0)

    assert seen.foreign == 1
    assert seen.sequence == []


def test_a_missing_line_makes_the_turn_incomplete() -> None:
    seen = Seen()
    _take({"type": "turn_started", "turn": "t1"}, seen, 1.0)
    _take(stdout("t1", "0 1.0\n2 1.0\n"), seen, 1.0)

    assert not seen.complete(3)

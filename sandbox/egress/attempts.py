"""What a session's code tried to reach, summed up from the proxy's decision lines: one
Attempt per host, port and verdict, with what the model and the person are told."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.network import DEFAULT_PORTS

VERDICTS = ("allowed", "blocked", "private")
# Hosts and ports recorded (and events made) per verdict and take, that is per execution;
# the rest are summed into one Attempt per verdict, whose host is OTHERS. Per verdict, so
# that many allowed requests never push a refusal out of the record.
MAX_ATTEMPTS = 50
OTHERS = "(others)"


@dataclass
class Attempt:
    """Requests of one session to one host and port, with the proxy's verdict."""

    host: str
    port: int
    verdict: str
    count: int = 1
    first_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def blocked(self) -> bool:
        return self.verdict != "allowed"

    @property
    def target(self) -> str:
        return self.host if self.port in DEFAULT_PORTS else f"{self.host}:{self.port}"

    @property
    def message(self) -> str:
        if self.host == OTHERS:
            return self._others_message()
        if self.verdict == "private":
            return (
                f"network access to {self.target} is blocked: private and internal addresses "
                "are never reachable from sandboxes"
            )
        if self.verdict == "blocked":
            return f"network access to {self.target} is blocked by this workspace's policy"
        return f"network access to {self.target} was allowed"

    def _others_message(self) -> str:
        requests = f"{self.count:,} more network request{'s' if self.count != 1 else ''}"
        if self.verdict == "private":
            return f"{requests} to private and internal addresses were blocked"
        if self.verdict == "blocked":
            return f"{requests} to other hosts and ports were blocked by this workspace's policy"
        return f"{requests} to other hosts and ports were allowed"

    def event(self) -> dict:
        return {
            "type": "network_blocked",
            "host": self.host,
            "port": self.port,
            "reason": "private" if self.verdict == "private" else "policy",
            "count": self.count,
            "message": self.message,
        }


def summarise(lines: list[str], *, dropped: dict[str, int] | None = None) -> list[Attempt]:
    """One Attempt per host, port and verdict, for the first MAX_ATTEMPTS hosts and ports
    of each verdict; the others (and the lines the feed only counted, ``dropped``) are
    summed into one Attempt per verdict whose host is OTHERS and port 0. A request the
    policy allowed and Squid then refused for its address has two lines with one
    transaction number: it counts once, as refused."""
    requests: dict[str, tuple[float, str, str, int]] = {}
    for number, line in enumerate(lines):
        parsed = _parse(line)
        if parsed is None:
            continue
        at, transaction, verdict, host, port = parsed
        key = transaction if transaction != "-" else f"line {number}"
        if requests.get(key, (0, "", "", 0))[1] != "private":
            requests[key] = (at, verdict, host, port)
    attempts: dict[tuple, Attempt] = {}
    listed = dict.fromkeys(VERDICTS, 0)
    for at, verdict, host, port in sorted(requests.values()):
        key = (host, port, verdict)
        if key not in attempts:
            if listed[verdict] >= MAX_ATTEMPTS:
                key = (OTHERS, 0, verdict)
            else:
                listed[verdict] += 1
        _add(attempts, key, datetime.fromtimestamp(at, UTC))
    now = datetime.now(UTC)
    for verdict, count in (dropped or {}).items():
        if count <= 0:
            continue
        _add(attempts, (OTHERS, 0, verdict), now, count)
    return sorted(attempts.values(), key=lambda a: (a.host == OTHERS, a.first_at))


def _add(attempts: dict[tuple, Attempt], key: tuple, when: datetime, count: int = 1) -> None:
    attempt = attempts.get(key)
    if attempt is None:
        attempts[key] = Attempt(*key, count, when, when)
    else:
        attempt.count += count
        attempt.first_at = min(attempt.first_at, when)
        attempt.last_at = max(attempt.last_at, when)


def _parse(line: str) -> tuple[float, str, str, str, int] | None:
    """TIME TRANSACTION VERDICT HOST PORT (RecordFeed has taken the session's id out)."""
    words = line.split()
    if len(words) != 5 or words[2] not in VERDICTS or not words[4].isdigit():
        return None
    try:
        at = float(words[0])
    except ValueError:
        return None
    port = int(words[4])
    if not 0 <= port <= 65535:
        return None
    return at, words[1], words[2], words[3][:255], port

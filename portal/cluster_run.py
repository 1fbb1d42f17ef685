"""cluster_bench from start to end: the cluster up (portal/cluster.py), the scenarios in
order (portal/cluster_load.py), what the database recorded, the figures, and the cluster
down whatever happened.

The order matters: the load and the Stop run on the whole cluster; then a worker is
killed, and the turns after it must run on the survivor; then Redis restarts."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from config.benchmarks import summary
from portal import cluster_load
from portal.cluster import (
    MARKER,
    REAP_SECONDS,
    Cluster,
    ClusterError,
    remove_containers,
    sandbox_containers_of,
)

LINES, EVERY = 20, 0.05
QUIET_LINES = 200
KILLED_TURNS = 4
# A dead worker's turns: the reaper's interval, a reap, a margin for a loaded machine.
KILL_BOUND_SECONDS = 3 * REAP_SECONDS + 20
EXTRA = KILLED_TURNS + 9


def run(
    *, postgres_url: str, redis_server: str, conversations: int, progress, logs: Path | None
) -> dict:
    cluster = Cluster(postgres_url=postgres_url, redis_server=redis_server)
    try:
        cluster.create_database()
        try:
            report = _run(cluster, conversations, progress)
        finally:
            cluster.close(keep_logs=logs)
            cluster.drop_database()
    finally:
        cluster.close()
    # Once every process has stopped: what is left now, nobody will remove but a reaper.
    report["orphan_containers"] = sandbox_containers_of(cluster.seen_pids)
    remove_containers(report["orphan_containers"])
    report["checks"] = checks(report)
    return report


def _run(cluster: Cluster, conversations: int, progress) -> dict:
    progress(f"migrating {cluster.database}; starting Redis, two Daphne, two Celery workers")
    cluster.start_redis()
    cluster.manage("migrate", "--verbosity", "0")
    targets = json.loads(cluster.manage("cluster_bench", "--prepare", str(conversations + EXTRA)))
    webs = [cluster.start_web("web1"), cluster.start_web("web2")]
    cluster.start_worker("worker1")
    cluster.start_worker("worker2")
    cluster.remember_pids()
    ports = [w.port for w in webs]
    clients = [cluster_load.Client(t, ports[i % 2]) for i, t in enumerate(targets)]
    spare = clients[conversations:]
    report: dict = {"conversations": conversations, "web_processes": 2, "workers": 2}

    progress("one conversation alone: print-to-browser latency through Redis")
    quiet, _ = _loop(cluster_load.load([spare.pop()], lines=QUIET_LINES, every=0.02))
    report["quiet"] = {
        "status": quiet[0].status,
        "complete": quiet[0].complete(QUIET_LINES),
        "latency_ms": summary(quiet[0].latencies) if quiet[0].latencies else None,
    }
    progress(f"{conversations} conversations at once, over both web processes")
    seen, seconds = _loop(cluster_load.load(clients[:conversations], lines=LINES, every=EVERY))
    report["load"] = _load_figures(seen, seconds)
    progress("a Stop sent through the other web process")
    stop_client = spare.pop()
    report["stop"] = _loop(cluster_load.stop_elsewhere(stop_client, _other(ports, stop_client)))
    progress("worker1 killed (SIGKILL, with its pool) while turns run")
    report["kill"] = _kill_scenario(cluster, [spare.pop() for _ in range(KILLED_TURNS)])
    progress("Redis restarted while turns print")
    report["redis_restart"] = _redis_scenario(cluster, [spare.pop() for _ in range(2)])
    progress("a turn after all of it")
    last = spare.pop()
    after, _ = _loop(cluster_load.load([last], lines=LINES, every=EVERY))
    report["after"] = {
        "status": after[0].status,
        "complete": after[0].complete(LINES),
        "connections_refused_first": last.refused,
    }
    redis_turns = report["redis_restart"].pop("turns")
    turns = [s.turn for s in seen + quiet] + report["kill"].pop("turns") + [after[0].turn]
    turns += [*redis_turns, report["stop"]["turn"]]
    time.sleep(2 * REAP_SECONDS)
    found = json.loads(cluster.manage("cluster_bench", "--report", *filter(None, turns)))
    _redis_recorded(report["redis_restart"], found, redis_turns)
    report["kill"]["recorded_statuses"] = sorted(
        found["turns"].get(t, {}).get("status", "?") for t in report["kill"].pop("cut_turns")
    )
    cluster.remember_pids()
    report |= _totals(report, found)
    return report


def _loop(coroutine):
    # In a thread of its own: the management command may already run an event loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _other(ports: list[int], client: cluster_load.Client) -> int:
    return ports[1] if client.port == ports[0] else ports[0]


def _load_figures(seen: list[cluster_load.Seen], seconds: float) -> dict:
    latencies = [ms for s in seen for ms in s.latencies]
    return {
        "turns": len(seen),
        "answered": sum(s.status == "answered" for s in seen),
        "complete_and_in_order": sum(s.complete(LINES) for s in seen),
        "foreign_events": sum(s.foreign for s in seen),
        "lost_events": sum(LINES - len(set(s.sequence)) for s in seen),
        "seconds": round(seconds, 1),
        "turns_per_minute": round(len(seen) / seconds * 60, 1),
        "latency_ms": summary(latencies) if latencies else None,
    }


def _kill_scenario(cluster: Cluster, clients: list) -> dict:
    worker = cluster.process("worker1")
    cluster.remember_pids()
    killed_pids = worker.group_pids()
    seen, killed_at = _loop(
        cluster_load.kill_worker_mid_turn(clients, worker.kill, bound_seconds=KILL_BOUND_SECONDS)
    )
    cluster.processes.remove(worker)
    ended = [s for s in seen if s.status != "answered"]
    waits = [round(s.finished_at - killed_at, 1) for s in ended if s.finished_at]
    time.sleep(2 * REAP_SECONDS)
    later, _ = _loop(cluster_load.load(clients[:2], lines=LINES, every=EVERY))
    return {
        "turns": [s.turn for s in seen + later],
        "cut_turns": [s.turn for s in ended],
        "bound_seconds": KILL_BOUND_SECONDS,
        "killed_worker_turns": len(ended),
        "statuses": sorted(s.status for s in seen),
        "messages": sorted({s.message for s in ended}),
        "ended_after_seconds": waits,
        "ended_within_bound": len(waits) == len(ended)
        and all(wait <= KILL_BOUND_SECONDS for wait in waits),
        "survivor_turns_answered": sum(s.status == "answered" for s in seen),
        "later_turns_answered": sum(s.status == "answered" for s in later),
        "sandboxes_of_killed_worker_left": sandbox_containers_of(killed_pids),
    }


def _redis_scenario(cluster: Cluster, clients: list) -> dict:
    seen = _loop(cluster_load.redis_restart_mid_run(clients, lambda: cluster.restart_redis(2)))
    lines = cluster_load.REDIS_LINES
    return {
        "turns": [s.turn for s in seen],
        "connections_refused": sum(c.refused for c in clients),
        "statuses": [s.status for s in seen],
        # Sent while Redis was away (or before the sockets joined their groups again):
        # the page re-syncs them from the record, which must hold every line.
        "live_lines_missed": sum(lines - len(set(s.sequence)) for s in seen),
        "all_answered": all(s.status == "answered" for s in seen),
    }


def _redis_recorded(report: dict, found: dict, turns: list[str]) -> None:
    """What the database kept of the turns Redis restarted under: every printed line."""
    lines = [found["turns"].get(t, {}).get("stdout_lines") for t in turns]
    report["recorded_lines"] = lines
    report["nothing_recorded_lost"] = all(n == cluster_load.REDIS_LINES for n in lines)


def checks(report: dict) -> dict[str, bool]:
    """The faults' outcomes that must hold, whatever the machine's speed."""
    kill, redis, load = report["kill"], report["redis_restart"], report["load"]
    return {
        "load: every line, in order, on its own socket": load["complete_and_in_order"]
        == load["turns"]
        and load["foreign_events"] == 0,
        "stop through the other web process: cancelled": report["stop"]["passed"],
        "kill: cut turns ended in the browser within the bound": kill["ended_within_bound"],
        "kill: later turns answered": kill["later_turns_answered"] == 2,
        "kill: no sandbox of the killed worker left": not kill["sandboxes_of_killed_worker_left"],
        "redis restart: running turns answered": redis["all_answered"],
        "redis restart: nothing recorded lost": redis["nothing_recorded_lost"],
        "no double charge": report["recorded"]["double_charges"] == 0,
        "no session left open": report["recorded"]["open_sessions"] == 0,
        "no orphan container": not report["orphan_containers"],
    }


def _totals(report: dict, records: dict) -> dict:
    turns = records["turns"]
    return {
        "recorded": {
            "turns": len(turns),
            "statuses": _count(t["status"] for t in turns.values()),
            "open_sessions": sum(t["session_status"] == "open" for t in turns.values()),
            "double_charges": sum(t["charges"] > 1 for t in turns.values()),
            "uncharged_sessions": sum(
                t["session_status"] == "closed" and t["charges"] == 0 for t in turns.values()
            ),
        },
        "messages_of_unanswered": sorted(
            {f"{t['status']}: {t['message']}" for t in turns.values() if t["status"] != "answered"}
        ),
        "lost_events": report["load"]["lost_events"],
    }


def _count(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# --- Inside the cluster's database (cluster_bench --prepare / --report) -----------------------


def prepare(count: int) -> list[dict]:
    """A workspace with credits, a Direct-mode agent, ``count`` people each with a
    conversation and a login (one person a conversation: turns per person are limited)."""
    from agents.bench import login_cookie
    from agents.models import Agent, Conversation
    from billing.services import credit_grant
    from connections.services import connection_create, pixelml_key_issue
    from workspaces.models import Membership, User, Workspace

    if not (settings.DATA_DIR / MARKER).exists():
        raise ClusterError("--prepare runs only inside cluster_bench's own data folder.")
    workspace = Workspace.objects.create(name="Cluster", slug="cluster")
    _, key = pixelml_key_issue(name="Cluster bench")
    connection_create(workspace=workspace, kind="pixelml", name="PixelML", secret=key)
    credit_grant(workspace=workspace, amount=Decimal(100_000), reason="Bench", granted_by=None)
    agent = Agent.objects.create(workspace=workspace, name="Bench", code_execution=True)
    targets = []
    for number in range(count):
        user = User.objects.create_user(f"cluster-{number}@example.invalid", None)
        Membership.objects.create(user=user, workspace=workspace, role="member")
        chat = Conversation.objects.create(workspace=workspace, agent=agent, user=user)
        path = f"/ws/w/cluster/conversations/{chat.pk}/"
        targets.append({"path": path, "cookie": login_cookie(user)})
    return targets


def records(turn_ids: list[str]) -> dict:
    from agents.models import Turn
    from billing.models import LedgerEntry

    if not (settings.DATA_DIR / MARKER).exists():
        raise ClusterError("--report runs only inside cluster_bench's own data folder.")
    found = {}
    for turn in Turn.objects.filter(pk__in=turn_ids).select_related("sandbox_session"):
        session = turn.sandbox_session
        charges = LedgerEntry.objects.filter(session=session, kind="usage") if session else []
        calls = list(turn.tool_calls.all())
        found[str(turn.pk)] = {
            "status": turn.status,
            "message": turn.error_message,
            "session_status": session.status if session else "none",
            "end_reason": session.end_reason if session else "",
            "charges": len(charges),
            "stdout_lines": sum(
                item.get("text", "").count("\n")
                for call in calls
                for item in call.output
                if item.get("type") == "stdout"
            ),
        }
    return {"turns": found}

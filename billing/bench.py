"""billing_bench: what metering costs a running sandbox and how fast sessions are charged.

A metered execution asks ``Meter.stop_reason`` every sandbox.allowance.CHECK_SECONDS
while it runs; that query reads the account and the usage of every other open session
of the account, so its cost grows with them. The bench measures it with 0, 10 and 50 other open
sessions, then the gate a session passes before it opens, then ``session_charge`` one
session after another and, on PostgreSQL, from 8 threads at once.

It works on a throw-away copy of the configured database (Django's test database: a
temporary SQLite file, or ``test_<name>`` on PostgreSQL), built from records alone, as
the sandbox engine writes them: no Docker involved.
"""

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.test.utils import setup_databases, teardown_databases

from billing import metering, selectors, services
from config.benchmarks import summary
from connections.models import Kind
from connections.services import connection_create, pixelml_key_issue
from sandbox import services as sandbox_services
from sandbox.models import Execution, SandboxSession
from workspaces.models import Workspace

EXECUTIONS_PER_SESSION = 5
OTHER_SESSIONS = (0, 10, 50)
THREADS = 8


def run(*, calls: int, progress=lambda text: None) -> dict:
    progress("creating a throw-away database")
    with _throwaway_database():
        return measure(calls=calls, progress=progress)


def measure(*, calls: int, progress=lambda text: None) -> dict:
    workspace = _funded_workspace()
    figures = {"database": connection.vendor, "calls": calls, "credit_check_ms": {}}
    for others in OTHER_SESSIONS:
        progress(f"credit check with {others} other open sessions")
        figures["credit_check_ms"][str(others)] = _credit_check(workspace, others, calls)
    progress("gate before a session opens, the 50 others still open")
    figures["gate_ms"] = summary(_timed(lambda: metering.session_gate(workspace=workspace), calls))
    progress(f"charging {calls} sessions one after another")
    figures["charge_ms"] = summary(_charges(workspace, calls))
    if connection.vendor == "postgresql":
        progress(f"charging {calls} sessions from {THREADS} threads")
        figures["concurrent"] = _concurrent_charges(workspace, calls)
    account = selectors.account_of_workspace(workspace=workspace)
    figures["balance_matches_ledger"] = selectors.account_check(account=account)
    return figures


def _timed(action, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _credit_check(workspace: Workspace, others: int, calls: int) -> dict:
    SandboxSession.objects.filter(status=SandboxSession.Status.OPEN).delete()
    for _ in range(others):
        _session(workspace, close=False)
    meter = metering.Meter(workspace=workspace)
    session_id = _session(workspace, close=False).pk
    return summary(_timed(lambda: meter.stop_reason(session_id=session_id, running_ms=1500), calls))


def _charges(workspace: Workspace, calls: int) -> list[float]:
    sessions = [_session(workspace, close=True) for _ in range(calls)]
    return [
        sample
        for session in sessions
        for sample in _timed(lambda s=session: services.session_charge(session_id=s.pk), 1)
    ]


def _concurrent_charges(workspace: Workspace, calls: int) -> dict:
    sessions = [_session(workspace, close=True).pk for _ in range(calls)]

    def charge(session_id) -> None:
        try:
            services.session_charge(session_id=session_id)
        finally:
            connections.close_all()

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(charge, sessions))
    seconds = time.perf_counter() - started
    return {"threads": THREADS, "charges_per_second": round(calls / seconds, 1)}


def _funded_workspace() -> Workspace:
    workspace = Workspace.objects.create(name="Billing bench", slug="billing-bench")
    _, key = pixelml_key_issue(name="Billing bench account")
    connection_create(workspace=workspace, kind=Kind.PIXELML, name="PixelML", secret=key)
    services.credit_grant(
        workspace=workspace, amount=Decimal("1000000"), reason="bench", granted_by=None
    )
    return workspace


def _session(workspace: Workspace, *, close: bool) -> SandboxSession:
    session = sandbox_services.sandbox_session_create(
        workspace=workspace, started_by=None, purpose="bench", runtime="runc", image="-",
        owner="",
    )  # fmt: skip
    for _ in range(EXECUTIONS_PER_SESSION):
        execution = sandbox_services.execution_create(
            session=session, kind=Execution.Kind.PYTHON, source="-"
        )
        sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=1234)
    if close:
        sandbox_services.sandbox_session_end(session=session, reason="closed")
    return session


@contextmanager
def _throwaway_database():
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as folder:
        database = settings.DATABASES["default"]
        if database["ENGINE"] == "django.db.backends.sqlite3":
            # A file, not memory: the threads and the WAL behave as in production.
            database.setdefault("TEST", {})["NAME"] = str(Path(folder) / "bench.sqlite3")
        names = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        try:
            yield
        finally:
            teardown_databases(names, verbosity=0)


def table(report: dict) -> str:
    lines = [f"metering on {report['database']} ({report['calls']} samples each), ms p50 (p95)"]
    for others, figure in report["credit_check_ms"].items():
        lines.append(f"  credit check, {others:>2} other open sessions : {_ms(figure)}")
    lines.append(f"  gate before a session opens (51 open) : {_ms(report['gate_ms'])}")
    lines.append(f"  charge one session                    : {_ms(report['charge_ms'])}")
    if "concurrent" in report:
        figure = report["concurrent"]
        lines.append(
            f"  charges from {figure['threads']} threads             : "
            f"{figure['charges_per_second']} per second"
        )
    lines.append(f"  balance equals the sum of its entries : {report['balance_matches_ledger']}")
    return "\n".join(lines)


def _ms(figure: dict) -> str:
    return f"{figure['p50']:.2f} ({figure['p95']:.2f})"

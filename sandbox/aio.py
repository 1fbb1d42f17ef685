"""The session API for asyncio callers (Channels consumers, an async agent loop).

    async with open_session_async(workspace=workspace, purpose="turn") as session:
        async for event in session.python("print(1)"):
            await send(event)

Docker and the database are blocking, so each execution runs in a worker thread and
hands its events over as they arrive. Cancelling the task stops the running code, and
the container is removed even then: closing is shielded from the cancellation.
"""

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.db import connections

from sandbox.models import SandboxSession
from sandbox.session import Session, end_reason_for

_DONE = object()


class AsyncSession:
    def __init__(self, session: Session):
        self.session = session

    @property
    def record(self) -> SandboxSession:
        return self.session.record

    def python(self, code: str, *, timeout: float | None = None) -> AsyncIterator[dict]:
        return self._stream(lambda: self.session.python(code, timeout=timeout))

    def shell(self, command: str, *, timeout: float | None = None) -> AsyncIterator[dict]:
        return self._stream(lambda: self.session.shell(command, timeout=timeout))

    async def _stream(self, make_events) -> AsyncIterator[dict]:
        loop = asyncio.get_running_loop()
        handoff: asyncio.Queue = asyncio.Queue()

        def pump() -> None:
            try:
                for event in make_events():
                    loop.call_soon_threadsafe(handoff.put_nowait, event)
            except BaseException as exc:  # handed to the awaiting task, which raises it
                loop.call_soon_threadsafe(handoff.put_nowait, exc)
            finally:
                connections.close_all()
                loop.call_soon_threadsafe(handoff.put_nowait, _DONE)

        worker = threading.Thread(target=pump, name="sandbox-execution", daemon=True)
        worker.start()
        try:
            while (event := await handoff.get()) is not _DONE:
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            if worker.is_alive():
                # Cancelled or abandoned mid-run: stop the code so the worker can finish.
                self.session.stop()
                await asyncio.shield(asyncio.to_thread(worker.join))


@asynccontextmanager
async def open_session_async(**options) -> AsyncIterator[AsyncSession]:
    """Opens a session in a thread; closes it (container removed) however the block ends."""
    opening = asyncio.ensure_future(asyncio.to_thread(own_connections, Session.open, **options))
    try:
        session = await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The open goes on in its thread: whatever it opens must still be closed.
        opening.add_done_callback(_close_when_opened)
        raise
    reason = SandboxSession.EndReason.CLOSED
    try:
        yield AsyncSession(session)
    except BaseException as exc:
        reason = end_reason_for(exc)
        raise
    finally:
        await asyncio.shield(asyncio.to_thread(own_connections, session.close, reason))


def own_connections(function, *args, **kwargs):
    """Runs in a worker thread, then closes the database connections Django opened for
    that thread: it would keep them open for as long as the thread lives."""
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


def _close_when_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        close = opening.result().close
        reason = SandboxSession.EndReason.CANCELLED
        threading.Thread(target=own_connections, args=(close, reason), daemon=True).start()

"""A websocket's side of the channel layer through a Redis restart.

channels reads a socket's layer messages in the same loop as the browser's; when the
layer's receive raises (Redis went away), the socket's application fails and Daphne
closes it with 1011. Here a failed receive instead waits for Redis, joins the
conversation's group again (a restarted Redis has forgotten every group) and hands the
consumer a ``layer.recovered`` message, on which the page re-syncs from the server.

channels_redis reads for all the sockets of a process in one blocking pop, so only one
socket sees the error; the others would wait on without noticing that their group is
gone. A failure is therefore announced to every socket of the process (``Outages``).
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from agents.events import LAYER_ERRORS

log = logging.getLogger(__name__)

RECOVERED = {"type": "layer.recovered"}
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 0.5


class Outages:
    """How many layer failures this process's sockets have seen, and the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._next = asyncio.Event()

    def seen(self) -> None:
        self.count += 1
        self._next.set()
        self._next = asyncio.Event()

    async def after(self, count: int) -> None:
        while self.count == count:
            await self._next.wait()


# One per event loop: an asyncio.Event belongs to the loop that first waits on it.
_outages: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def outages_here() -> Outages:
    loop = asyncio.get_running_loop()
    if loop not in _outages:
        _outages[loop] = Outages()
    return _outages[loop]


class LayerReceiver:
    """The consumer's channel_receive: the layer's next message for this socket, or
    RECOVERED once an outage is over and ``rejoin`` (the group_add) went through."""

    def __init__(self, receive: Callable[[], Awaitable[dict]], rejoin: Callable[[], Awaitable]):
        self.receive, self.rejoin = receive, rejoin
        self.outages: Outages | None = None
        self.known = 0

    async def __call__(self) -> dict:
        if self.outages is None:
            self.outages = outages_here()
            self.known = self.outages.count
        if self.outages.count != self.known:
            return await self._recover()
        receiving = asyncio.ensure_future(self.receive())
        outage = asyncio.ensure_future(self.outages.after(self.known))
        try:
            await asyncio.wait({receiving, outage}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            outage.cancel()
            if not receiving.done():
                # channels_redis keeps the message of a cancelled pop for the next one.
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError, *LAYER_ERRORS):
                    await receiving
        if not receiving.cancelled():
            try:
                return receiving.result()
            except LAYER_ERRORS as error:
                log.warning("The channel layer failed (%s: %s).", type(error).__name__, error)
                self.outages.seen()
        return await self._recover()

    async def _recover(self) -> dict:
        pause = FIRST_PAUSE
        while True:
            self.known = self.outages.count
            try:
                await self.rejoin()
            except LAYER_ERRORS:
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            return RECOVERED

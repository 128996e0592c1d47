"""FakeRequest: a PTB BaseRequest that answers from a FakeTelegram in-process, no sockets.

Wire it with ``ApplicationBuilder().token(...).request(FakeRequest(fake))
.get_updates_request(FakeRequest(fake))`` or ``Bot(token, request=..., get_updates_request=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.preview.fake.core import FakeTelegram, Files


@dataclass
class _NetFault:
    method: str | None
    times: int
    error: type[NetworkError]
    delivered: bool


class FakeRequest(BaseRequest):
    """Hands PTB's calls to FakeTelegram.handle; long-polls getUpdates without blocking the loop."""

    def __init__(self, fake: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        self.fake = fake
        self._read_timeout = read_timeout
        self._faults: list[_NetFault] = []

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout PTB adds to getUpdates' long-poll timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def timeout_next(
        self, times: int = 1, method: str | None = None, *, delivered: bool = False
    ) -> None:
        """Raise TimedOut on the next calls of method (None: all but getUpdates)."""
        # delivered=True: the fake acts first, like Telegram sending a message whose answer is lost.
        self._faults.append(_NetFault(method, times, TimedOut, delivered))

    def reset_next(self, times: int = 1, method: str | None = None) -> None:
        """Raise NetworkError (connection reset) on the next calls, before they reach the fake."""
        self._faults.append(_NetFault(method, times, NetworkError, False))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one PTB request: (HTTP status, JSON bytes), or file bytes for downloads."""
        if "/file/bot" in url:
            data = self.fake.file_bytes(url.split("/file/bot", 1)[1].split("/", 1)[-1])
            return (200, data) if data is not None else (404, b'{"ok":false}')
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        files = _files(request_data)
        fault = self._take_fault(api_method)
        if fault is not None and not fault.delivered and fault.error is not TimedOut:
            raise fault.error("Connection reset")  # refused before it reached Telegram
        arrived = self.fake.arrive(api_method, params)
        if self.fake.latency:
            await asyncio.sleep(self.fake.latency)
        if fault is not None and not fault.delivered:
            raise fault.error("Timed out")
        if api_method.lower() == "getupdates":
            await self._long_poll(params)
        status, body = self.fake.handle(api_method, params, files, wait=False, arrived=arrived)
        if fault is not None:
            raise fault.error("Timed out")
        return status, json.dumps(body).encode("utf-8")

    def _take_fault(self, api_method: str) -> _NetFault | None:
        for fault in self._faults:
            if fault.method is None:
                matches = api_method.lower() != "getupdates"
            else:
                matches = fault.method.lower() == api_method.lower()
            if matches:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _long_poll(self, params: dict[str, Any]) -> None:
        # Wait here, on the event loop, so FakeTelegram.handle never blocks it.
        try:
            timeout = float(params.get("timeout") or 0)
            offset = int(params.get("offset") or 0)
        except (TypeError, ValueError):
            return  # let the fake reject the call
        if timeout <= 0 or self.fake.has_updates(offset):
            return
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(arrived.set)

        unsubscribe = self.fake.subscribe(notify)
        try:
            # Any notification ends the wait; an empty answer just makes PTB poll again.
            if not self.fake.has_updates(offset):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), timeout)
        finally:
            unsubscribe()


def _files(request_data: RequestData | None) -> Files:
    files: Files = {}
    if request_data is None:
        return files
    for part, (filename, content, _mime) in request_data.multipart_data.items():
        data = content if isinstance(content, bytes) else content.read()
        files[part] = (filename, data)
    return files

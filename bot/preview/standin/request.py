"""StandInRequest: a PTB BaseRequest that answers from a StandIn in-process, no sockets.

Wire it with ``ApplicationBuilder().token(...).request(StandInRequest(standin))
.get_updates_request(StandInRequest(standin))`` or ``Bot(token, request=..., ...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from telegram.request import BaseRequest, RequestData

from bot.preview.standin.core import JSON, Files, StandIn


class StandInRequest(BaseRequest):
    """Hands PTB's calls to StandIn.handle; long-polls getUpdates without blocking the loop."""

    def __init__(self, fake: StandIn, *, read_timeout: float | None = 5.0) -> None:
        self.fake = fake
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout PTB adds to getUpdates' long-poll timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

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
        status, body = await self.answer(api_method, params, files)
        return status, json.dumps(body).encode("utf-8")

    async def answer(
        self, api_method: str, params: dict[str, Any], files: Files, arrived: float | None = None
    ) -> tuple[int, JSON]:
        """One API call: getUpdates waits here for updates, then the stand-in answers (with the
        recorded body, not a copy: serialise it, don't change it)."""
        if api_method.lower() == "getupdates":
            await self._long_poll(params)
        return self.fake.respond(api_method, params, files, wait=False, arrived=arrived)

    async def _long_poll(self, params: dict[str, Any]) -> None:
        # Wait here, on the event loop, so StandIn.handle never blocks it.
        try:
            timeout = float(params.get("timeout") or 0)
            offset = int(params.get("offset") or 0)
        except (TypeError, ValueError):
            return  # let the stand-in reject the call
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

"""FakeRequest: the stand-in's PTB adapter for a FakeTelegram, with latency and network faults.

Wire it with ``ApplicationBuilder().token(...).request(FakeRequest(fake))
.get_updates_request(FakeRequest(fake))`` or ``Bot(token, request=..., get_updates_request=...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.error import NetworkError, TimedOut

from bot.preview.standin.request import StandInRequest
from tests.fakeapi.core import JSON, FakeTelegram, Files
from tests.fakeapi.faults import NetFault


class FakeRequest(StandInRequest):
    """Hands PTB's calls to FakeTelegram.handle, after the fake's latency and planned faults."""

    fake: FakeTelegram

    def __init__(self, fake: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        super().__init__(fake, read_timeout=read_timeout)
        self._faults: list[NetFault] = []

    def timeout_next(
        self, times: int = 1, method: str | None = None, *, delivered: bool = False
    ) -> None:
        """Raise TimedOut on the next calls of method (None: all but getUpdates)."""
        # delivered=True: the fake acts first, like Telegram sending a message whose answer is lost.
        self._faults.append(NetFault(method, times, TimedOut, delivered))

    def reset_next(self, times: int = 1, method: str | None = None) -> None:
        """Raise NetworkError (connection reset) on the next calls, before they reach the fake."""
        self._faults.append(NetFault(method, times, NetworkError, False))

    async def answer(
        self, api_method: str, params: dict[str, Any], files: Files, arrived: float | None = None
    ) -> tuple[int, JSON]:
        """One API call as it travels: refused, arriving, delayed, answered, its answer lost."""
        fault = self._take_fault(api_method)
        if fault is not None and not fault.delivered and fault.error is not TimedOut:
            raise fault.error("Connection reset")  # refused before it reached Telegram
        arrived = self.fake.arrive(api_method, params)
        if self.fake.latency:
            await asyncio.sleep(self.fake.latency)
        if fault is not None and not fault.delivered:
            raise fault.error("Timed out")
        answer = await super().answer(api_method, params, files, arrived)
        if fault is not None:
            raise fault.error("Timed out")
        return answer

    def _take_fault(self, api_method: str) -> NetFault | None:
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

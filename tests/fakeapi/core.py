"""FakeTelegram: the preview's stand-in plus what only tests need, answering like Telegram.

Every call is validated against the project's copy of the Bot API spec (spec.py; ``spec_path=
None`` for the stand-in's loose decoding); users can block the bot, groups kick it or become
forums (forums.py); ``fail_next`` injects Telegram's errors (faults.py); ``strict()`` turns on
the rate limits (limits.py); ``hold`` keeps HTTP calls waiting in the server (server.py), and
every request that reached the fake is listed in ``arrivals``. Everything else (state, methods,
updates, records) is the stand-in's: bot/preview/standin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Unpack

from bot.preview.standin.core import StandIn
from bot.preview.standin.errors import ApiError, bad
from bot.preview.standin.params import check_limits
from bot.preview.standin.state import Identity
from tests.fakeapi.faults import Fault, describe
from tests.fakeapi.forums import Forums
from tests.fakeapi.limits import RateLimits
from tests.fakeapi.records import JSON, AnsweredCallback, Arrival, Buttons, Call, Files, Sent
from tests.fakeapi.spec import DEFAULT_SPEC_PATH, Spec, load_spec

__all__ = [
    "JSON",
    "AnsweredCallback",
    "ApiError",
    "Buttons",
    "Call",
    "FakeTelegram",
    "Files",
    "Sent",
]


class FakeTelegram(Forums, RateLimits, StandIn):
    """A fake Telegram Bot API server core: validates, answers, records, queues updates."""

    def __init__(
        self, spec_path: Path | None = DEFAULT_SPEC_PATH, **identity: Unpack[Identity]
    ) -> None:
        """The stand-in, its spec loaded unless None, forums, limits, faults and holds."""
        super().__init__(**identity)
        self.spec: Spec | None = load_spec(spec_path) if spec_path is not None else None
        self._init_forums()
        self._init_limits()
        self.latency = 0.0  # seconds, applied by the adapters
        self.arrivals: list[Arrival] = []  # every request that reached the fake, held ones too
        self._kicked: set[int | str] = set()  # groups the bot was removed from
        self._blocked: set[int] = set()
        self._deactivated: set[int] = set()
        self._faults: list[Fault] = []
        self._watchers: list[Callable[[Call], None]] = []  # told of every call once answered
        self._held: set[str] = set()  # methods whose HTTP calls wait in the server (kill tests)
        self._holding = 0
        self._drop_held = False
        self._handlers.update(
            createForumTopic=self._create_topic,
            editForumTopic=self._edit_topic,
            deleteForumTopic=self._delete_topic,
        )
        self._lower.update({n.lower(): n for n in self._handlers})

    def respond(
        self, method: str, params: Mapping[str, Any], files: Files | None = None, **when: Any
    ) -> tuple[int, JSON]:
        """The stand-in's respond (under handle too), knowing whether the call is a paid broadcast.

        ``arrived`` (from ``arrive``): when the request reached the fake, before its latency;
        rate limits count it then, as Telegram counts a request when it comes in.
        """
        with self._cond:
            self._call_paid = str(params.get("allow_paid_broadcast")).lower() in ("true", "1")
            answer = super().respond(method, params, files, **when)
            call, watchers = self.calls[-1], list(self._watchers)
        for notify in watchers:  # outside the lock: a watcher may read the fake
            notify(call)
        return answer

    def watch(self, notify: Callable[[Call], None]) -> Callable[[], None]:
        """Call ``notify`` (from the answering thread) with every call once it is answered;
        returns the function that stops it (benches wait for replies without polling)."""
        with self._cond:
            self._watchers.append(notify)

        def unwatch() -> None:
            with self._cond:
                if notify in self._watchers:
                    self._watchers.remove(notify)

        return unwatch

    # ----- users and groups that refuse the bot ------------------------------------------------

    def kick(self, chat_id: int) -> None:
        """The bot is removed from a group: sends there answer 403."""
        with self._cond:
            self._kicked.add(chat_id)

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sends answer 403."""
        with self._cond:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """The user unblocks the bot."""
        with self._cond:
            self._blocked.discard(chat_id)

    def deactivate(self, chat_id: int) -> None:
        """The user deletes their account: sends answer 403 "user is deactivated"."""
        with self._cond:
            self._deactivated.add(chat_id)

    # ----- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        chat_ids: set[int] | None = None,
    ) -> None:
        """Fail the next ``times`` valid calls of method (None: all but getUpdates), optionally
        only those to some chats (e.g. leads, not the owner watching a broadcast)."""
        # None skips getUpdates: polling runs on its own schedule and would swallow the fault.
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            canonical = self.spec.canonical(method) if self.spec and method else None
            chats = frozenset(chat_ids) if chat_ids is not None else None
            fault = Fault(canonical or method, status, times, retry_after, description, chats)
            self._faults.append(fault)

    # ----- arrivals ----------------------------------------------------------------------------

    def arrive(self, method: str, params: Mapping[str, Any]) -> float:
        """Record a request reaching the fake (before any latency); returns its arrival time."""
        return self.arrival(method, params).at

    def arrival(
        self,
        method: str,
        params: Mapping[str, Any],
        via: str | None = None,
        at: float | None = None,
    ) -> Arrival:
        """Record a request reaching the fake (`at`: when it reached the machine, else now),
        and through which server (one per bot process in the cluster tests); the record."""
        with self._cond:
            chat_id, text = params.get("chat_id"), params.get("text")
            record = Arrival(
                self.clock() if at is None else at, method, _int_or_same(chat_id), text, via
            )
            self.arrivals.append(record)
            return record

    def arrived(self, method: str, text: str | None = None) -> list[Arrival]:
        """Requests of `method` (with this text, if given) that reached the fake, in order."""
        with self._cond:
            return [
                a
                for a in self.arrivals
                if a.method.lower() == method.lower() and (text is None or a.text == text)
            ]

    def reset_recording(self) -> None:
        """Forget calls, arrivals, violations, answers and transcripts (messages stay editable)."""
        with self._cond:
            super().reset_recording()
            self.arrivals.clear()

    # ----- held calls (kill tests) -------------------------------------------------------------

    def hold(self, method: str) -> None:
        """Make HTTP calls of `method` wait in the server, as if Telegram were stuck on them."""
        with self._cond:
            self._held.add(method.lower())
            self._drop_held = False

    def release(self, *, drop: bool = False) -> None:
        """Let held calls through; with `drop`, they fail (the connection died) without effect."""
        with self._cond:
            self._held.clear()
            self._drop_held = drop
            self._cond.notify_all()

    def wait_if_held(self, method: str, timeout: float = 60.0) -> bool:
        """Called by the server before a call; False if the call must be dropped."""
        with self._cond:
            if method.lower() not in self._held:
                return True
            self._holding += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: method.lower() not in self._held, timeout)
            self._holding -= 1
            return not self._drop_held

    def wait_until_holding(self, timeout: float = 10.0, count: int = 1) -> bool:
        """Block until `count` calls are being held."""
        with self._cond:
            return self._cond.wait_for(lambda: self._holding >= count, timeout)

    @property
    def holding(self) -> int:
        """How many calls are being held now (in flight, as far as the bot knows)."""
        with self._cond:
            return self._holding

    # ----- the stand-in's hooks ----------------------------------------------------------------

    def _canonical(self, method: str) -> str | None:
        """The spec's spelling of a method name; None (404) when the spec has no such method."""
        return self.spec.canonical(method) if self.spec else super()._canonical(method)

    def _decode(self, name: str, params: Mapping[str, Any], files: Files) -> JSON:
        """Validate against the spec (unknown, missing or mistyped fields), then the limits."""
        if self.spec is None:
            return super()._decode(name, params, files)
        decoded, problems = self.spec.validate(name, params, files)
        if problems:
            raise bad("; ".join(problems))
        problem = check_limits(name, decoded)
        if problem:
            raise bad(problem)
        return decoded

    def _intercept(self, name: str, decoded: JSON) -> None:
        """Fail the call if a planned fault matches it."""
        chat_id = decoded.get("chat_id")
        for fault in self._faults:
            if fault.method is None and name == "getUpdates":
                continue
            if fault.method is not None and fault.method.lower() != name.lower():
                continue
            if fault.chat_ids is not None and _as_int(chat_id) not in fault.chat_ids:
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            description = fault.description or describe(fault.status, fault.retry_after)
            raise ApiError(fault.status, description, retry_after=fault.retry_after)

    def _gate(self, chat_id: int | str, name: str) -> None:
        """Telegram refuses sends to a migrated group, a blocked or deleted user, a group that
        kicked the bot, and over the rate limits."""
        self._not_migrated(chat_id)
        if chat_id in self._deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._kicked:
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        if name != "sendChatAction":
            self._throttle(chat_id)

    def _returns(self, name: str) -> list[str]:
        """The spec's return types of a method."""
        return self.spec.returns(name) if self.spec else super()._returns(name)

    def _placeholder(self, type_name: str) -> Any:
        """A minimal value of a type, from the spec."""
        return self.spec.placeholder(type_name) if self.spec else super()._placeholder(type_name)


def _as_int(value: object) -> int | None:
    """A chat id as an int (ids arrive as ints or strings)."""
    try:
        return int(str(value))
    except ValueError:
        return None


def _int_or_same(value: Any) -> Any:
    """A chat id as an int when it is one (HTTP form fields arrive as strings)."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value

"""FakeTelegram: an in-memory, thread-safe Bot API that answers, rejects and records like Telegram.

``handle(method, params, files)`` returns (HTTP status, JSON body); request.py (in-process PTB)
and server.py (HTTP, for a bot in another process) are thin adapters around it. A call Telegram
would reject gets Telegram's error JSON; when the rejection is the bot's fault (a 4xx other than
403/429, never an injected fault) it is also listed in ``violations``.

Updates come in pairs: ``build_message``, ``build_sticker``, ``build_photo``, ``build_callback``,
``build_press``, ``build_edited_message`` and ``build_raw`` only build the update dict (for
``application.process_update(Update.de_json(d, bot))``); ``message``, ``sticker``, ``photo``,
``callback``, ``press``, ``edited_message`` and ``raw`` build it and enqueue it for getUpdates.
"""

from __future__ import annotations

import copy
import itertools
import math
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple

from bot.fakeapi.spec import DEFAULT_SPEC_PATH, Spec, check_limits, load_spec, loose_decode
from bot.telegram_html import FormatError, render, utf16_len

JSON = dict[str, Any]
Files = dict[str, tuple[str, bytes]]
Buttons = list[list[tuple[str, str | None]]]

_MEDIA = {
    "sendDocument": "document", "sendPhoto": "photo", "sendVideo": "video", "sendAudio": "audio",
    "sendAnimation": "animation", "sendVoice": "voice", "sendVideoNote": "video_note",
    "sendSticker": "sticker",
}  # fmt: skip
# Fields PTB needs to parse each media object (its required constructor arguments).
_MEDIA_EXTRA: dict[str, JSON] = {
    "photo": {"width": 800, "height": 600},
    "video": {"width": 640, "height": 360, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "audio": {"duration": 1},
    "voice": {"duration": 1},
    "video_note": {"length": 240, "duration": 1},
    "sticker": {"width": 512, "height": 512, "is_animated": False, "is_video": False},
}
_NAMED_FILES = ("document", "audio", "video", "animation")
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_ENVELOPE = frozenset({"message_id", "date", "chat", "from", "edit_date", "reply_markup"})
_CHAT_FULL: JSON = {
    "accent_color_id": 0,
    "max_reaction_count": 11,
    "accepted_gift_types": dict.fromkeys(
        (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        ),
        False,
    ),
}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_WRONG_FILE = "wrong file identifier/HTTP URL specified"
_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_DEFAULT_ERRORS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: _CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """A Telegram error answer; ``violation`` marks it as the bot's fault."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        violation: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.violation = violation
        self.retry_after = retry_after

    def body(self) -> JSON:
        """The JSON Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}", violation=True)


@dataclass
class Call:
    """One API call as the fake saw it (params decoded when they were valid)."""

    method: str
    params: JSON
    files: Files
    status: int
    response: JSON


@dataclass
class Sent:
    """A bot message as the user sees it; edits update it in place, deletes hide it."""

    chat_id: int
    method: str
    message_id: int
    text: str
    html: str
    buttons: Buttons
    document: str | None
    document_bytes: bytes | None
    params: JSON
    message: JSON = field(repr=False)
    edits: int = 0
    deleted: bool = False


class AnsweredCallback(NamedTuple):
    """An answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass
class _Fault:
    method: str | None
    status: int
    times: int
    retry_after: int | None
    description: str | None


@dataclass
class _File:
    file_id: str
    unique_id: str
    name: str
    data: bytes
    mime: str
    path: str


class _Bucket:
    """Token bucket: ``rate`` tokens a second, at most ``capacity`` saved up."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.stamp = rate, capacity, capacity, now

    def take(self, now: float) -> int:
        """0 when a token was available, else the whole seconds to wait for one."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class FakeTelegram:
    """A fake Telegram Bot API server core: validates, answers, records, queues updates."""

    def __init__(
        self,
        spec_path: Path | None = DEFAULT_SPEC_PATH,
        *,
        bot_id: int = 5000000001,
        username: str = "aimant_test_bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec: Spec | None = load_spec(spec_path) if spec_path is not None else None
        self.bot_id, self.username, self.clock = bot_id, username, clock
        self.first_name = "Aimant"
        self.latency = 0.0  # seconds, applied by the adapters
        self.bulk_rate: float | None = None  # sends per second across chats, None = unlimited
        self.per_chat_rate: float | None = None  # sends per second per chat, None = unlimited
        self.per_chat_burst = 3.0  # Telegram tolerates short bursts in one chat
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.next_update_id = 1
        self.confirmed_offset = 0
        self.webhook_url = ""
        # RLock: builders call each other; Condition: getUpdates long-polls on it.
        self._cond = threading.Condition(threading.RLock())
        self._users: dict[int, JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._blocked: set[int] = set()
        self._deactivated: set[int] = set()
        self._faults: list[_Fault] = []
        self._pending: list[JSON] = []
        self._allowed: frozenset[str] | None = None
        self._subscribers: list[Callable[[], None]] = []
        self._poll_seq = 0
        self._wake_seq = 0
        self._msg_ids: dict[int | str, int] = {}
        self._held: set[str] = set()  # methods whose HTTP calls wait in the server (kill tests)
        self._holding = 0
        self._drop_held = False
        self._messages: dict[tuple[int | str, int], Sent] = {}
        self._incoming: dict[tuple[int | str, int], JSON] = {}
        self._transcript: dict[int | str, list[Sent]] = {}
        self._files: dict[str, _File] = {}
        self._queries: set[str] = set()
        self._buckets: dict[int | str, _Bucket] = {}
        self._ids = itertools.count(1)
        self._handlers: dict[str, Callable[[JSON, Files], Any]] = {
            "getMe": lambda d, f: self.me,
            "logOut": lambda d, f: True,
            "close": lambda d, f: True,
            "sendMessage": self._send_message,
            "sendChatAction": self._send_chat_action,
            "sendMediaGroup": self._send_media_group,
            "editMessageText": lambda d, f: self._edit(d, "text"),
            "editMessageCaption": lambda d, f: self._edit(d, "caption"),
            "editMessageReplyMarkup": lambda d, f: self._edit(d, None),
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "copyMessage": lambda d, f: self._copy(d, forward=False),
            "forwardMessage": lambda d, f: self._copy(d, forward=True),
            "answerCallbackQuery": self._answer_callback,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._set_webhook,
            "getWebhookInfo": self._webhook_info,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getFile": self._get_file,
        }
        self._lower = {n.lower(): n for n in [*self._handlers, *_MEDIA, "getUpdates"]}

    # ----- the API -----------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Files | None = None,
        *,
        wait: bool = True,
    ) -> tuple[int, JSON]:
        """Answer one call like Telegram: (HTTP status, JSON body). wait=False never long-polls."""
        uploads = dict(files or {})
        with self._cond:
            name = self.spec.canonical(method) if self.spec else self._lower.get(method.lower())
            if self.spec is None and name is None:
                name = method  # without a spec every method name is plausible
            decoded: JSON = dict(params)
            try:
                if name is None:
                    raise ApiError(404, "Not Found", violation=True)
                decoded = self._decode(name, params, uploads)
                self._inject(name)
                if name == "getUpdates":
                    result: Any = self._get_updates(decoded, wait)
                elif name in self._handlers:
                    result = self._handlers[name](decoded, uploads)
                elif name in _MEDIA:
                    result = self._send_media(name, decoded, uploads)
                else:
                    result = self._generic(name, decoded)
                status, body = 200, {"ok": True, "result": copy.deepcopy(result)}
            except ApiError as err:
                status, body = err.status, err.body()
                if err.violation:
                    self.violations.append(f"{name or method}: {err.description}")
            self.calls.append(Call(name or method, decoded, uploads, status, body))
            return status, copy.deepcopy(body)

    @property
    def me(self) -> JSON:
        """The getMe answer."""
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ----- faults and users --------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Ada",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """Make a private chat known (as if the user had written to the bot); return the User."""
        with self._cond:
            return self._touch_user(user_id, first_name, last_name, username, language_code)

    def add_chat(self, chat: Mapping[str, Any]) -> None:
        """Make a group/supergroup/channel chat known (a Chat dict with at least id and type)."""
        with self._cond:
            self._chats[chat["id"]] = dict(chat)

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

    def fail_next(
        self,
        method: str | None,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Fail the next ``times`` valid calls of method (None: all but getUpdates)."""
        # None skips getUpdates: polling runs on its own schedule and would swallow the fault.
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            canonical = self.spec.canonical(method) if self.spec and method else None
            self._faults.append(
                _Fault(canonical or method, status, times, retry_after, description)
            )

    # ----- recording ---------------------------------------------------------------------------

    def sent_to(self, chat_id: int | str) -> list[Sent]:
        """The bot's messages in that chat as the user sees them (edited, not deleted), in order."""
        with self._cond:
            return [s for s in self._transcript.get(chat_id, []) if not s.deleted]

    def last_to(self, chat_id: int | str) -> Sent:
        """The bot's latest visible message in that chat."""
        sent = self.sent_to(chat_id)
        if not sent:
            raise LookupError(f"the bot sent nothing to chat {chat_id}")
        return sent[-1]

    def texts_to(self, chat_id: int | str) -> list[str]:
        """The plain texts (or captions) of sent_to(chat_id)."""
        return [s.text for s in self.sent_to(chat_id)]

    def reset_recording(self) -> None:
        """Forget calls, violations, answers and transcripts (messages stay editable)."""
        with self._cond:
            self.calls.clear()
            self.violations.clear()
            self.answered_callbacks.clear()
            self._transcript.clear()

    def file_bytes(self, file_id_or_path: str) -> bytes | None:
        """The content of a stored file, by file_id or by getFile's file_path."""
        with self._cond:
            for stored in self._files.values():
                if file_id_or_path in (stored.file_id, stored.path):
                    return stored.data
            return None

    # ----- updates -----------------------------------------------------------------------------

    def build_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """A private text message from a user (a bot_command entity is added for "/...")."""
        with self._cond:
            user = self._touch_user(user_id, first_name, last_name, username, language_code)
            msg = {**self._new_message(self._chats[user_id], user), "text": text}
            command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
            if entities is None and len(command) > 1:
                entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
            if entities:
                msg["entities"] = entities
            return self._incoming_update("message", msg)

    def build_sticker(self, user_id: int, *, emoji: str = "👍", **profile: str | None) -> JSON:
        """A private sticker message from a user."""
        with self._cond:
            user = self._touch_user(user_id, **profile)
            sticker = self._store(f"sticker_{next(self._ids)}.webp", b"RIFF", "sticker")
            media = {**self._media_json("sticker", sticker), "type": "regular", "emoji": emoji}
            msg = {**self._new_message(self._chats[user_id], user), "sticker": media}
            return self._incoming_update("message", msg)

    def build_photo(
        self, user_id: int, *, caption: str | None = None, **profile: str | None
    ) -> JSON:
        """A private photo message from a user."""
        with self._cond:
            user = self._touch_user(user_id, **profile)
            photo = self._store(f"photo_{next(self._ids)}.jpg", b"\xff\xd8\xff", "photo")
            msg = {**self._new_message(self._chats[user_id], user)}
            msg["photo"] = self._media_json("photo", photo)
            if caption is not None:
                msg["caption"] = caption
            return self._incoming_update("message", msg)

    def build_edited_message(self, user_id: int, message_id: int, text: str) -> JSON:
        """The user edits one of their earlier text messages."""
        with self._cond:
            msg = self._incoming.get((user_id, message_id))
            if msg is None:
                raise LookupError(f"user {user_id} sent no message {message_id}")
            msg.update(text=text, edit_date=int(self.clock()))
            msg.pop("entities", None)
            return self._wrap("edited_message", copy.deepcopy(msg))

    def build_callback(
        self, user_id: int, data: str, *, message_id: int | None = None, check: bool = True
    ) -> JSON:
        """The user presses the button with this data (default: on the latest bot message)."""
        # check=False lets tests send data that is on no button: a stale or forged query.
        with self._cond:
            sent = self._target_message(user_id, message_id)
            if check and data not in [value for row in sent.buttons for _, value in row]:
                raise LookupError(f"no button {data!r} on message {sent.message_id}")
            query_id = str(4_000_000_000_000_000 + next(self._ids))
            self._queries.add(query_id)
            query = {
                "id": query_id,
                "from": self._touch_user(user_id),
                "message": copy.deepcopy(sent.message),
                "chat_instance": str(-(10**18) - user_id),
                "data": data,
            }
            return self._wrap("callback_query", query)

    def build_press(self, user_id: int, label: str, *, message_id: int | None = None) -> JSON:
        """The user presses the callback button labelled ``label``."""
        with self._cond:
            sent = self._target_message(user_id, message_id)
            for row in sent.buttons:
                for text, value in row:
                    if text == label and value is not None:
                        return self.build_callback(user_id, value, message_id=sent.message_id)
            raise LookupError(f"no button {label!r} on message {sent.message_id}: {sent.buttons}")

    def build_raw(self, update: Mapping[str, Any]) -> JSON:
        """Any update dict (group, channel, unknown kinds); update_id is added if missing."""
        with self._cond:
            built = copy.deepcopy(dict(update))
            if "update_id" in built:
                self.next_update_id = max(self.next_update_id, int(built["update_id"]) + 1)
            else:
                built = {"update_id": self._take_update_id(), **built}
            for payload in built.values():
                if isinstance(payload, dict):
                    self._learn(payload)
            return built

    def enqueue(self, update: JSON) -> JSON:
        """Queue an update for getUpdates and wake long-polls; return it."""
        with self._cond:
            self._pending.append(copy.deepcopy(update))
            self._pending.sort(key=lambda u: u["update_id"])
            self._cond.notify_all()
            subscribers = list(self._subscribers)
        for notify in subscribers:
            notify()
        return update

    def message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """build_message + enqueue."""
        update = self.build_message(
            user_id,
            text,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            entities=entities,
        )
        return self.enqueue(update)

    def sticker(self, user_id: int, **kwargs: Any) -> JSON:
        """build_sticker + enqueue."""
        return self.enqueue(self.build_sticker(user_id, **kwargs))

    def photo(self, user_id: int, **kwargs: Any) -> JSON:
        """build_photo + enqueue."""
        return self.enqueue(self.build_photo(user_id, **kwargs))

    def edited_message(self, user_id: int, message_id: int, text: str) -> JSON:
        """build_edited_message + enqueue."""
        return self.enqueue(self.build_edited_message(user_id, message_id, text))

    def callback(self, user_id: int, data: str, **kwargs: Any) -> JSON:
        """build_callback + enqueue."""
        return self.enqueue(self.build_callback(user_id, data, **kwargs))

    def press(self, user_id: int, label: str, **kwargs: Any) -> JSON:
        """build_press + enqueue."""
        return self.enqueue(self.build_press(user_id, label, **kwargs))

    def raw(self, update: Mapping[str, Any]) -> JSON:
        """build_raw + enqueue."""
        return self.enqueue(self.build_raw(update))

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates Telegram still holds (not confirmed by a getUpdates offset)."""
        with self._cond:
            return copy.deepcopy(self._pending)

    def has_updates(self, offset: int = 0) -> bool:
        """Whether getUpdates(offset) would return something right now."""
        with self._cond:
            return any(u["update_id"] >= offset for u in self._deliverable(100))

    @property
    def poll_count(self) -> int:
        """How many getUpdates calls have started (a long poll counts while it waits)."""
        with self._cond:
            return self._poll_seq

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

    def wait_until_holding(self, timeout: float = 10.0) -> bool:
        """Block until a call is being held."""
        with self._cond:
            return self._cond.wait_for(lambda: self._holding > 0, timeout)

    def wait_until_polling(self, timeout: float = 10.0, *, after: int = 0) -> bool:
        """Block until more than ``after`` getUpdates calls have started, e.g. a bot process."""
        with self._cond:
            return self._cond.wait_for(lambda: self._poll_seq > after, timeout)

    def subscribe(self, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` (from any thread) whenever an update is queued; returns unsubscribe."""
        with self._cond:
            self._subscribers.append(notify)

        def unsubscribe() -> None:
            with self._cond:
                if notify in self._subscribers:
                    self._subscribers.remove(notify)

        return unsubscribe

    def wake_pollers(self) -> None:
        """End every blocking getUpdates wait now (they answer with what is pending)."""
        with self._cond:
            self._wake_seq += 1
            self._cond.notify_all()
            subscribers = list(self._subscribers)
        for notify in subscribers:
            notify()

    # ----- validation --------------------------------------------------------------------------

    def _decode(self, name: str, params: Mapping[str, Any], files: Files) -> JSON:
        if self.spec is None:
            decoded = loose_decode(params)
        else:
            decoded, problems = self.spec.validate(name, params, files)
            if problems:
                raise _bad("; ".join(problems))
        problem = check_limits(name, decoded)
        if problem:
            raise _bad(problem)
        return decoded

    def _inject(self, name: str) -> None:
        for fault in self._faults:
            if fault.method is None and name == "getUpdates":
                continue
            if fault.method is not None and fault.method.lower() != name.lower():
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            description = fault.description or _describe(fault.status, fault.retry_after)
            raise ApiError(fault.status, description, retry_after=fault.retry_after)

    # ----- chats and gates ---------------------------------------------------------------------

    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _resolve_chat(self, chat_id: Any) -> JSON:
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, str):
            # Telegram resolves @username only for public groups, channels and bots.
            for known in self._chats.values():
                if known.get("type") != "private" and f"@{known.get('username')}" == chat_id:
                    return known
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _gate(self, chat_id: int | str, name: str) -> None:
        if chat_id in self._deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if name == "sendChatAction":
            return
        now = self.clock()
        wait = 0
        if self.per_chat_rate:
            wait = self._take(chat_id, self.per_chat_rate, self.per_chat_burst, now)
        if not wait and self.bulk_rate:
            wait = self._take("*bulk*", self.bulk_rate, max(1.0, self.bulk_rate), now)
        if wait:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _take(self, key: int | str, rate: float, capacity: float, now: float) -> int:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key] = _Bucket(rate, capacity, now)
        return bucket.take(now)

    # ----- messages ----------------------------------------------------------------------------

    def _new_message(self, chat: JSON, sender: JSON | None) -> JSON:
        # One counter per chat, shared by the user's and the bot's messages, as in Telegram.
        chat_id = chat["id"]
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        msg: JSON = {"message_id": self._msg_ids[chat_id]}
        if chat.get("type") == "channel":
            msg["sender_chat"] = dict(chat)
        elif sender is not None:
            msg["from"] = dict(sender)
        msg.update(date=int(self.clock()), chat=dict(chat))
        return msg

    def _put_text(self, msg: JSON, d: JSON, key: str) -> None:
        entities_key = "entities" if key == "text" else "caption_entities"
        msg.pop(key, None)
        msg.pop(entities_key, None)
        if not isinstance(d.get(key), str):
            return
        try:
            plain, entities = render(d[key], d.get("parse_mode"))
        except FormatError as exc:
            raise _bad(str(exc)) from None
        if not d.get("parse_mode"):
            entities = list(d.get(entities_key) or [])
        if plain or key == "text":
            msg[key] = plain
        if entities:
            msg[entities_key] = entities

    @staticmethod
    def _put_markup(msg: JSON, d: JSON) -> None:
        # Only inline keyboards belong to the message; reply keyboards live in the client.
        msg.pop("reply_markup", None)
        markup = d.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            msg["reply_markup"] = copy.deepcopy(markup)

    def _record(
        self, name: str, msg: JSON, d: JSON, html: str, file: tuple[str, bytes] | None = None
    ) -> Sent:
        chat_id = msg["chat"]["id"]
        sent = Sent(
            chat_id=chat_id,
            method=name,
            message_id=msg["message_id"],
            text=_visible_text(msg),
            html=html,
            buttons=_buttons(d.get("reply_markup")),
            document=file[0] if file else None,
            document_bytes=file[1] if file else None,
            params=dict(d),
            message=copy.deepcopy(msg),
        )
        self._messages[(chat_id, sent.message_id)] = sent
        self._transcript.setdefault(chat_id, []).append(sent)
        return sent

    def _send_message(self, d: JSON, files: Files) -> JSON:
        chat = self._resolve_chat(d.get("chat_id"))
        if not isinstance(d.get("text"), str):
            raise _bad("message text is empty")
        self._gate(chat["id"], "sendMessage")
        msg = self._new_message(chat, self._bot_user())
        self._put_text(msg, d, "text")
        self._put_markup(msg, d)
        self._record("sendMessage", msg, d, d["text"])
        return msg

    def _send_media(self, name: str, d: JSON, files: Files) -> JSON:
        kind = _MEDIA[name]
        chat = self._resolve_chat(d.get("chat_id"))
        stored = self._resolve_file(d.get(kind), kind, files)
        self._gate(chat["id"], name)
        msg = self._new_message(chat, self._bot_user())
        msg[kind] = self._media_json(kind, stored)
        if kind == "sticker":
            msg[kind]["type"] = "regular"
        self._put_text(msg, d, "caption")
        self._put_markup(msg, d)
        document = (stored.name, stored.data) if kind == "document" else None
        self._record(name, msg, d, d.get("caption") or "", document)
        return msg

    def _send_media_group(self, d: JSON, files: Files) -> list[JSON]:
        chat = self._resolve_chat(d.get("chat_id"))
        items = [item for item in d.get("media") or [] if isinstance(item, dict)]
        if not 2 <= len(items) <= 10:
            raise _bad("media group must have 2-10 items")
        stored = [self._resolve_file(i.get("media"), str(i.get("type")), files) for i in items]
        self._gate(chat["id"], "sendMediaGroup")
        group_id = str(10**17 + next(self._ids))
        messages = []
        for item, file in zip(items, stored, strict=True):
            kind = str(item["type"])
            msg = {**self._new_message(chat, self._bot_user()), "media_group_id": group_id}
            msg[kind] = self._media_json(kind, file)
            self._put_text(msg, item, "caption")
            document = (file.name, file.data) if kind == "document" else None
            self._record("sendMediaGroup", msg, item, item.get("caption") or "", document)
            messages.append(msg)
        return messages

    def _send_chat_action(self, d: JSON, files: Files) -> bool:
        self._gate(self._resolve_chat(d.get("chat_id"))["id"], "sendChatAction")
        return True

    def _target_message(self, chat_id: int, message_id: int | None) -> Sent:
        own = [s for (c, _), s in self._messages.items() if c == chat_id and not s.deleted]
        if message_id is not None:
            own = [s for s in own if s.message_id == message_id]
        if not own:
            raise LookupError(f"no visible bot message {message_id or ''} in chat {chat_id}")
        return max(own, key=lambda s: s.message_id)

    def _edit(self, d: JSON, key: str | None) -> JSON | bool:
        if "chat_id" not in d and "inline_message_id" in d:
            return True  # inline messages are not tracked
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(chat, d)
        sent = self._messages.get(where)
        if sent is None or sent.deleted:
            user_message = where in self._incoming
            raise _bad("message can't be edited" if user_message else "message to edit not found")
        new = copy.deepcopy(sent.message)
        # A text message has no caption to edit, a media message no text.
        if (key == "text") != ("text" in new) and key is not None:
            raise _bad(f"there is no {key} in the message to edit")
        if key is not None:
            self._put_text(new, d, key)
        self._put_markup(new, d)
        new.pop("edit_date", None)
        old = {k: v for k, v in sent.message.items() if k != "edit_date"}
        if new == old:
            raise _bad(_NOT_MODIFIED)
        new["edit_date"] = int(self.clock())
        sent.message = new
        sent.text = _visible_text(new)
        sent.html = str(d.get(key) or "") if key else sent.html
        sent.buttons = _buttons(new.get("reply_markup"))
        sent.edits += 1
        return copy.deepcopy(new)

    def _delete_message(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(chat, d)
        sent = self._messages.get(where)
        if sent is not None and not sent.deleted:
            sent.deleted = True
        elif self._incoming.pop(where, None) is None:
            raise _bad("message to delete not found")
        return True

    def _delete_messages(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        for message_id in d.get("message_ids") or []:
            sent = self._messages.get((chat["id"], message_id))
            if sent is not None:
                sent.deleted = True
            self._incoming.pop((chat["id"], message_id), None)
        return True

    def _copy(self, d: JSON, *, forward: bool) -> JSON:
        source_chat = self._resolve_chat(d.get("from_chat_id"))
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(source_chat, d)
        original = self._messages.get(where)
        source = (
            original.message if original and not original.deleted else self._incoming.get(where)
        )
        if source is None:
            raise _bad(f"message to {'forward' if forward else 'copy'} not found")
        self._gate(chat["id"], "forwardMessage" if forward else "copyMessage")
        msg = self._new_message(chat, self._bot_user())
        msg.update(copy.deepcopy({k: v for k, v in source.items() if k not in _ENVELOPE}))
        if forward:
            sender = source.get("from")
            origin = {"type": "user", "sender_user": sender} if sender else {"type": "chat"}
            msg["forward_origin"] = {**origin, "date": source["date"]}
        else:
            if "caption" in d:
                self._put_text(msg, d, "caption")
            self._put_markup(msg, d)
        file = None
        if original and original.document is not None and original.document_bytes is not None:
            file = (original.document, original.document_bytes)
        html = d.get("caption") or (original.html if original else msg.get("text", ""))
        self._record("forwardMessage" if forward else "copyMessage", msg, d, html, file)
        return msg if forward else {"message_id": msg["message_id"]}

    def _answer_callback(self, d: JSON, files: Files) -> bool:
        query_id = str(d.get("callback_query_id", ""))
        if query_id not in self._queries:
            raise _bad(_QUERY_INVALID)
        self._queries.discard(query_id)  # a query can be answered once
        answer = AnsweredCallback(query_id, d.get("text"), bool(d.get("show_alert", False)))
        self.answered_callbacks.append(answer)
        return True

    # ----- files -------------------------------------------------------------------------------

    def _store(self, name: str, data: bytes, kind: str) -> _File:
        n = next(self._ids)
        suffix = Path(name).suffix
        stored = _File(
            file_id=f"BQACAgQAAxkBAAI{n:06d}fake{kind}",
            unique_id=f"AgAD{n:06d}",
            name=name,
            data=data,
            mime=mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream",
            path=f"{kind}s/file_{n}{suffix}",
        )
        self._files[stored.file_id] = stored
        return stored

    def _resolve_file(self, value: Any, kind: str, files: Files) -> _File:
        if value is None and kind in files:
            return self._store(*files[kind], kind)
        if isinstance(value, str) and value.startswith("attach://"):
            if value[len("attach://") :] not in files:
                raise _bad(_WRONG_FILE)
            return self._store(*files[value[len("attach://") :]], kind)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._store(value.rsplit("/", 1)[-1] or "file", b"", kind)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if value is None:
            raise _bad(f"there is no {kind} in the request")
        raise _bad(_WRONG_FILE)

    @staticmethod
    def _media_json(kind: str, stored: _File) -> Any:
        media: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
            **_MEDIA_EXTRA.get(kind, {}),
        }
        if kind in _NAMED_FILES:
            media.update(file_name=stored.name, mime_type=stored.mime)
        return [media] if kind == "photo" else media

    def _get_file(self, d: JSON, files: Files) -> JSON:
        stored = self._files.get(str(d.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
            "file_path": stored.path,
        }

    # ----- updates, webhook, misc --------------------------------------------------------------

    def _take_update_id(self) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        return update_id

    def _wrap(self, kind: str, payload: JSON) -> JSON:
        return {"update_id": self._take_update_id(), kind: payload}

    def _incoming_update(self, kind: str, msg: JSON) -> JSON:
        self._incoming[(msg["chat"]["id"], msg["message_id"])] = copy.deepcopy(msg)
        return self._wrap(kind, msg)

    def _touch_user(
        self,
        user_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        user = self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": "Ada",
            "language_code": "en",
        }
        given = {
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        user.update({k: v for k, v in given.items() if v is not None})
        self._users[user_id] = user
        names: JSON = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
        self._chats[user_id] = {"id": user_id, "type": "private", **names}
        return dict(user)

    def _learn(self, payload: JSON) -> None:
        chat = payload.get("chat")
        if isinstance(chat, dict) and "id" in chat:
            self._chats.setdefault(chat["id"], dict(chat))
        user = payload.get("from")
        if isinstance(user, dict) and "id" in user and not user.get("is_bot"):
            self._users.setdefault(user["id"], dict(user))

    def _deliverable(self, limit: int) -> list[JSON]:
        allowed = self._allowed
        out = []
        for update in self._pending:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed is not None else (kind not in _NOT_BY_DEFAULT):
                out.append(update)
        return out[:limit]

    def _get_updates(self, d: JSON, wait: bool) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, _WEBHOOK_ACTIVE, violation=True)
        self._poll_seq += 1
        self._cond.notify_all()  # an older long poll, if any, is now superseded
        seq, wake = self._poll_seq, self._wake_seq
        offset = int(d.get("offset", 0))
        limit = min(max(int(d.get("limit", 100)), 1), 100)
        timeout = max(float(d.get("timeout", 0)), 0.0)
        if "allowed_updates" in d:
            self._allowed = frozenset(d["allowed_updates"]) or None  # [] means the default
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            dropped, self._pending = self._pending[:offset], self._pending[offset:]
            if dropped:
                self.confirmed_offset = max(self.confirmed_offset, dropped[-1]["update_id"] + 1)
        if wait and timeout > 0 and not self._deliverable(1):
            self._cond.wait_for(
                lambda: (
                    bool(self._deliverable(1)) or self._poll_seq != seq or self._wake_seq != wake
                ),
                timeout,
            )
            if self._poll_seq != seq:
                raise ApiError(409, _CONFLICT)  # a newer getUpdates took over
        return self._deliverable(limit)

    def _set_webhook(self, d: JSON, files: Files) -> bool:
        self.webhook_url = str(d.get("url") or "")
        if d.get("drop_pending_updates") and self._pending:
            self.confirmed_offset = max(self.confirmed_offset, self._pending[-1]["update_id"] + 1)
            self._pending.clear()
        return True

    def _webhook_info(self, d: JSON, files: Files) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    def _get_chat(self, d: JSON, files: Files) -> JSON:
        chat = self._resolve_chat(d.get("chat_id"))
        placeholder = self.spec.placeholder("ChatFullInfo") if self.spec else {}
        return {**placeholder, **_CHAT_FULL, **chat}

    def _get_chat_member(self, d: JSON, files: Files) -> JSON:
        self._resolve_chat(d.get("chat_id"))
        user_id = int(d.get("user_id", 0))
        user = self._bot_user() if user_id == self.bot_id else self._users.get(user_id)
        if user is None:
            raise _bad("user not found")
        return {"status": "member", "user": dict(user)}

    def _generic(self, name: str, d: JSON) -> Any:
        chat = self._resolve_chat(d["chat_id"]) if "chat_id" in d else None
        returns = self.spec.returns(name) if self.spec else ["Boolean"]
        first = returns[0] if returns else "Boolean"
        if first in ("Boolean", "True"):
            return True
        if first == "Message" and chat is not None:
            self._gate(chat["id"], name)
            msg = self._new_message(chat, self._bot_user())
            self._put_markup(msg, d)
            self._record(name, msg, d, "")
            return msg
        return self.spec.placeholder(first) if self.spec else True


def _key(chat: JSON, d: JSON) -> tuple[int | str, int]:
    return chat["id"], int(d.get("message_id") or 0)


def _visible_text(msg: JSON) -> str:
    return str(msg.get("text", msg.get("caption", "")))


def _buttons(markup: Any) -> Buttons:
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    out: Buttons = []
    for row in rows:
        out.append(
            [
                (str(b.get("text", "")), b.get("callback_data") or b.get("url"))
                if isinstance(b, dict)
                else (str(b), None)
                for b in row
            ]
        )
    return out


def _describe(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if status in _DEFAULT_ERRORS:
        return _DEFAULT_ERRORS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"

"""FakeTelegram: an in-memory, thread-safe Bot API that answers, rejects and records like Telegram.

``handle(method, params, files)`` returns (HTTP status, JSON body); request.py (in-process PTB)
and server.py (HTTP, for a bot in another process) are thin adapters around it. A call Telegram
would reject gets Telegram's error JSON; when the rejection is the bot's fault (a 4xx other than
403/429, never an injected fault) it is also listed in ``violations``.

Updates come in pairs: ``build_message``, ``build_sticker``, ``build_photo``, ``build_callback``,
``build_press``, ``build_edited_message`` and ``build_raw`` only build the update dict (for
``application.process_update(Update.de_json(d, bot))``); ``message``, ``sticker``, ``photo``,
``callback``, ``press``, ``edited_message`` and ``raw`` build it and enqueue it for getUpdates.

The class is assembled from mixins: state.py holds the state and shared helpers, updates.py
builds and queues updates, methods.py answers the Bot API methods; errors.py and records.py hold
what it raises and records. This module keeps the dispatch, the test controls and re-exports.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.preview.fake.errors import ApiError, Fault, bad, describe
from bot.preview.fake.methods import MEDIA, MethodHandlers
from bot.preview.fake.records import JSON, AnsweredCallback, Buttons, Call, Files, Sent
from bot.preview.fake.spec import DEFAULT_SPEC_PATH, check_limits, loose_decode
from bot.preview.fake.updates import UpdateBuilders

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


class FakeTelegram(UpdateBuilders, MethodHandlers):
    """A fake Telegram Bot API server core: validates, answers, records, queues updates."""

    def __init__(
        self,
        spec_path: Path | None = DEFAULT_SPEC_PATH,
        *,
        bot_id: int = 5000000001,
        username: str = "aimant_test_bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Set up the state (see FakeState), then the table of specially answered methods."""
        super().__init__(spec_path, bot_id=bot_id, username=username, clock=clock)
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
            "setMessageReaction": self._set_reaction,
            "createForumTopic": self._create_topic,
            "editForumTopic": self._edit_topic,
            "deleteForumTopic": self._delete_topic,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._set_webhook,
            "getWebhookInfo": self._webhook_info,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getFile": self._get_file,
        }
        self._lower = {n.lower(): n for n in [*self._handlers, *MEDIA, "getUpdates"]}

    # ----- the API -----------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Files | None = None,
        *,
        wait: bool = True,
        arrived: float | None = None,
    ) -> tuple[int, JSON]:
        """Answer one call like Telegram: (HTTP status, JSON body). wait=False never long-polls.

        ``arrived`` (from ``arrive``): when the request reached the fake, before its latency;
        rate limits count it then, as Telegram counts a request when it comes in.
        """
        uploads = dict(files or {})
        with self._cond:
            self._call_at = self.clock() if arrived is None else arrived
            self._call_paid = str(params.get("allow_paid_broadcast")).lower() in ("true", "1")
            name = self.spec.canonical(method) if self.spec else self._lower.get(method.lower())
            if self.spec is None and name is None:
                name = method  # without a spec every method name is plausible
            decoded: JSON = dict(params)
            try:
                if name is None:
                    raise ApiError(404, "Not Found", violation=True)
                decoded = self._decode(name, params, uploads)
                self._inject(name, decoded.get("chat_id"))
                if name == "getUpdates":
                    result: Any = self._get_updates(decoded, wait)
                elif name in self._handlers:
                    result = self._handlers[name](decoded, uploads)
                elif name in MEDIA:
                    result = self._send_media(name, decoded, uploads)
                else:
                    result = self._generic(name, decoded)
                status, body = 200, {"ok": True, "result": copy.deepcopy(result)}
            except ApiError as err:
                status, body = err.status, err.body()
                if err.violation:
                    self.violations.append(f"{name or method}: {err.description}")
            self.calls.append(Call(name or method, decoded, uploads, status, body, self._call_at))
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

    def add_forum(self, chat_id: int, title: str = "Team inbox") -> JSON:
        """A supergroup with topics where the bot is an administrator who may manage topics."""
        chat = {"id": chat_id, "type": "supergroup", "title": title, "is_forum": True}
        with self._cond:
            self._chats[chat_id] = chat
            self.topics.setdefault(chat_id, {})
        return dict(chat)

    def migrate(self, chat_id: int, new_chat_id: int) -> JSON:
        """Group `chat_id` is upgraded to a supergroup (turning Topics on does it): the new one
        is a forum with a new id; writing into the old id answers 400 with migrate_to_chat_id.
        Returns the new chat."""
        with self._cond:
            old = self._chats.get(chat_id) or {"id": chat_id, "type": "group", "title": "Team"}
            self._chats[chat_id] = {**old, "type": "group"}
            self._migrated[chat_id] = new_chat_id
        return self.add_forum(new_chat_id, str(old.get("title") or "Team inbox"))

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
            self.arrivals.clear()
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

    # ----- validation --------------------------------------------------------------------------

    def _decode(self, name: str, params: Mapping[str, Any], files: Files) -> JSON:
        if self.spec is None:
            decoded = loose_decode(params)
        else:
            decoded, problems = self.spec.validate(name, params, files)
            if problems:
                raise bad("; ".join(problems))
        problem = check_limits(name, decoded)
        if problem:
            raise bad(problem)
        return decoded

    def _inject(self, name: str, chat_id: object = None) -> None:
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


def _as_int(value: object) -> int | None:
    """A chat id as an int (ids arrive as ints or strings)."""
    try:
        return int(str(value))
    except ValueError:
        return None

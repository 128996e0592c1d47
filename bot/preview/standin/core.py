"""StandIn: an in-memory, thread-safe Bot API that answers and records like Telegram, in-process.

``handle(method, params, files)`` returns (HTTP status, JSON body); request.py plugs it into PTB
(through ``respond``, the same without the copy a caller could change).
A call Telegram would reject gets Telegram's error JSON; when the rejection is the bot's fault
(a malformed call, a limit Telegram states, a stale message or file) it is also listed in
``violations``. The stand-in has no spec, network or injected faults: the tests' fake
(tests/fakeapi) adds them by overriding the hooks (``_canonical``, ``_decode``, ``_intercept``,
``_gate``, ``_check_thread``, ``_returns``, ``_placeholder``).

Updates come in pairs: ``build_message``, ``build_sticker``, ``build_photo``, ``build_callback``,
``build_press``, ``build_edited_message`` and ``build_raw`` only build the update dict (for
``application.process_update(Update.de_json(d, bot))``); ``message``, ``sticker``, ``photo``,
``callback``, ``press``, ``edited_message`` and ``raw`` build it and enqueue it for getUpdates.

The class is assembled from mixins: state.py holds the state and shared helpers, updates.py
builds and queues updates, methods.py answers the Bot API methods; errors.py and records.py hold
what it raises and records, params.py what it checks. This module keeps the dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Unpack

from bot.preview.standin.errors import ApiError, bad
from bot.preview.standin.methods import MEDIA, MethodHandlers
from bot.preview.standin.params import check_limits, loose_decode
from bot.preview.standin.records import (
    JSON,
    AnsweredCallback,
    Buttons,
    Call,
    Files,
    Sent,
    copy_json,
)
from bot.preview.standin.state import Identity
from bot.preview.standin.updates import UpdateBuilders

__all__ = [
    "JSON",
    "AnsweredCallback",
    "ApiError",
    "Buttons",
    "Call",
    "Files",
    "Sent",
    "StandIn",
]


class StandIn(UpdateBuilders, MethodHandlers):
    """An in-process Telegram Bot API: checks, answers, records, queues updates."""

    def __init__(self, **identity: Unpack[Identity]) -> None:
        """Set up the state (see StandInState), then the table of specially answered methods."""
        super().__init__(**identity)
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
        self, method: str, params: Mapping[str, Any], files: Files | None = None, **when: Any
    ) -> tuple[int, JSON]:
        """Answer one call like Telegram: (HTTP status, JSON body); `when` as respond() takes it
        (wait=False never long-polls; arrived: when the request reached the stand-in)."""
        status, body = self.respond(method, params, files, **when)
        return status, copy_json(body)  # the caller may change its copy, never the record

    def respond(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Files | None = None,
        *,
        wait: bool = True,
        arrived: float | None = None,
    ) -> tuple[int, JSON]:
        """handle() for callers that only serialise the body: it is the one recorded in
        ``calls``, not a copy, so it must not be changed (saves a copy per call)."""
        uploads = dict(files or {})
        with self._cond:
            self._call_at = self.clock() if arrived is None else arrived
            name = self._canonical(method)
            decoded: JSON = dict(params)
            try:
                if name is None:
                    raise ApiError(404, "Not Found", violation=True)
                decoded = self._decode(name, params, uploads)
                self._intercept(name, decoded)
                if name == "getUpdates":
                    result: Any = self._get_updates(decoded, wait)
                elif name in self._handlers:
                    result = self._handlers[name](decoded, uploads)
                elif name in MEDIA:
                    result = self._send_media(name, decoded, uploads)
                else:
                    result = self._generic(name, decoded)
                # Results may share the stand-in's state (its messages, queued updates): copied.
                status, body = 200, {"ok": True, "result": copy_json(result)}
            except ApiError as err:
                status, body = err.status, err.body()
                if err.violation:
                    self.violations.append(f"{name or method}: {err.description}")
            self.calls.append(Call(name or method, decoded, uploads, status, body, self._call_at))
            return status, body

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

    # ----- users and chats ---------------------------------------------------------------------

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

    # ----- hooks (the tests' fake overrides them) -------------------------------------------------

    def _decode(self, name: str, params: Mapping[str, Any], files: Files) -> JSON:
        """Decode the parameters and check the limits Telegram states in prose."""
        decoded = loose_decode(params)
        problem = check_limits(name, decoded)
        if problem:
            raise bad(problem)
        return decoded

    def _canonical(self, method: str) -> str | None:
        """The usual spelling of a method name (Telegram matches them case-insensitively);
        without a spec every name is plausible, so None (404) never comes from the stand-in."""
        return self._lower.get(method.lower(), method)

    def _intercept(self, name: str, decoded: JSON) -> None:
        """A valid call about to be answered: the stand-in answers it (tests inject faults)."""

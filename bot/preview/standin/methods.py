"""The answers to Bot API methods: sending, editing, deleting, files, getUpdates, webhooks."""

from __future__ import annotations

from typing import Any

from bot.preview.standin.errors import CONFLICT, ApiError, bad
from bot.preview.standin.records import (
    JSON,
    AnsweredCallback,
    Files,
    StoredFile,
    buttons_of,
    copy_json,
    visible_text,
)
from bot.preview.standin.state import StandInState

# The send method of each media kind; core.py dispatches these to _send_media.
MEDIA = {
    "sendDocument": "document", "sendPhoto": "photo", "sendVideo": "video", "sendAudio": "audio",
    "sendAnimation": "animation", "sendVoice": "voice", "sendVideoNote": "video_note",
    "sendSticker": "sticker",
}  # fmt: skip
# What a message holds that copyMessage can copy; a message with none of it is a service one.
_CONTENT = frozenset(
    {"text", "photo", "video", "document", "voice", "audio", "animation", "sticker",
     "video_note", "location", "contact", "venue", "poll", "dice"}
)  # fmt: skip
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
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class MethodHandlers(StandInState):
    """One handler per Bot API method the stand-in answers specially; the rest are generic."""

    # ----- sending -----------------------------------------------------------------------------

    def _send_message(self, d: JSON, files: Files) -> JSON:
        chat = self._resolve_chat(d.get("chat_id"))
        if not isinstance(d.get("text"), str):
            raise bad("message text is empty")
        self._gate(chat["id"], "sendMessage")
        msg = self._new_message(chat, self._bot_user())
        self._put_thread(msg, d)
        self._put_text(msg, d, "text")
        self._put_markup(msg, d)
        self._record("sendMessage", msg, d, d["text"])
        return msg

    def _send_media(self, name: str, d: JSON, files: Files) -> JSON:
        kind = MEDIA[name]
        chat = self._resolve_chat(d.get("chat_id"))
        stored = self._resolve_file(d.get(kind), kind, files)
        self._gate(chat["id"], name)
        msg = self._new_message(chat, self._bot_user())
        self._put_thread(msg, d)
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
            raise bad("media group must have 2-10 items")
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

    # ----- editing, deleting, copying, answering -----------------------------------------------

    def _edit(self, d: JSON, key: str | None) -> JSON | bool:
        if "chat_id" not in d and "inline_message_id" in d:
            return True  # inline messages are not tracked
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(chat, d)
        sent = self._messages.get(where)
        if sent is None or sent.deleted:
            user_message = where in self._incoming
            raise bad("message can't be edited" if user_message else "message to edit not found")
        new = copy_json(sent.message)
        # A text message has no caption to edit, a media message no text.
        if (key == "text") != ("text" in new) and key is not None:
            raise bad(f"there is no {key} in the message to edit")
        if key is not None:
            self._put_text(new, d, key)
        self._put_markup(new, d)
        new.pop("edit_date", None)
        old = {k: v for k, v in sent.message.items() if k != "edit_date"}
        if new == old:
            raise bad(_NOT_MODIFIED)
        new["edit_date"] = int(self.clock())
        sent.message = new
        sent.text = visible_text(new)
        sent.html = str(d.get(key) or "") if key else sent.html
        sent.buttons = buttons_of(new.get("reply_markup"))
        sent.edits += 1
        return new  # respond copies it: sent.message stays the stand-in's

    def _delete_message(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(chat, d)
        sent = self._messages.get(where)
        if sent is not None and not sent.deleted:
            sent.deleted = True
        elif self._incoming.pop(where, None) is None:
            raise bad("message to delete not found")
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
            raise bad(f"message to {'forward' if forward else 'copy'} not found")
        if not forward and not _CONTENT & set(source):  # a pin, a member joining, a new title...
            raise bad("message can't be copied")
        if not forward and "caption" not in d and len(str(source.get("caption", ""))) > 1024:
            raise bad("message caption is too long")  # a Premium user's long caption
        self._gate(chat["id"], "forwardMessage" if forward else "copyMessage")
        msg = self._new_message(chat, self._bot_user())
        msg.update(copy_json({k: v for k, v in source.items() if k not in _ENVELOPE}))
        msg.pop("message_thread_id", None)
        msg.pop("is_topic_message", None)
        self._put_thread(msg, d)
        if forward:
            sender = source.get("from")
            origin = (
                {"type": "user", "sender_user": copy_json(sender)} if sender else {"type": "chat"}
            )
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

    def _set_reaction(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        where = _key(chat, d)
        if where not in self._incoming and where not in self._messages:
            raise bad("message to react not found")
        chosen = [r.get("emoji") for r in d.get("reaction") or [] if isinstance(r, dict)]
        self.reactions[where] = [str(emoji) for emoji in chosen if emoji]
        return True

    def _answer_callback(self, d: JSON, files: Files) -> bool:
        query_id = str(d.get("callback_query_id", ""))
        if query_id not in self._queries:
            raise bad(_QUERY_INVALID)
        self._queries.discard(query_id)  # a query can be answered once
        answer = AnsweredCallback(query_id, d.get("text"), bool(d.get("show_alert", False)))
        self.answered_callbacks.append(answer)
        return True

    # ----- files -------------------------------------------------------------------------------

    def _resolve_file(self, value: Any, kind: str, files: Files) -> StoredFile:
        if value is None and kind in files:
            return self._store(*files[kind], kind)
        if isinstance(value, str) and value.startswith("attach://"):
            if value[len("attach://") :] not in files:
                raise bad(_WRONG_FILE)
            return self._store(*files[value[len("attach://") :]], kind)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._store(value.rsplit("/", 1)[-1] or "file", b"", kind)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if value is None:
            raise bad(f"there is no {kind} in the request")
        raise bad(_WRONG_FILE)

    def _get_file(self, d: JSON, files: Files) -> JSON:
        stored = self._files.get(str(d.get("file_id", "")))
        if stored is None:
            raise bad("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
            "file_path": stored.path,
        }

    # ----- updates and webhook -----------------------------------------------------------------

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
                raise ApiError(409, CONFLICT)  # a newer getUpdates took over
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

    # ----- chats and other methods -------------------------------------------------------------

    def _get_chat(self, d: JSON, files: Files) -> JSON:
        chat = self._resolve_chat(d.get("chat_id"))
        return {**(self._placeholder("ChatFullInfo") or {}), **_CHAT_FULL, **chat}

    def _get_chat_member(self, d: JSON, files: Files) -> JSON:
        self._resolve_chat(d.get("chat_id"))
        user_id = int(d.get("user_id", 0))
        user = self._bot_user() if user_id == self.bot_id else self._users.get(user_id)
        if user is None:
            raise bad("user not found")
        return {"status": "member", "user": dict(user)}

    def _generic(self, name: str, d: JSON) -> Any:
        chat = self._resolve_chat(d["chat_id"]) if "chat_id" in d else None
        returns = self._returns(name)
        first = returns[0] if returns else "Boolean"
        if first in ("Boolean", "True"):
            return True
        if first == "Message" and chat is not None:
            self._gate(chat["id"], name)
            msg = self._new_message(chat, self._bot_user())
            self._put_markup(msg, d)
            self._record(name, msg, d, "")
            return msg
        placeholder = self._placeholder(first)
        return True if placeholder is None else placeholder

    def _returns(self, name: str) -> list[str]:
        """The return types of a method the stand-in has no handler for: without the spec,
        Boolean (most such calls are settings, e.g. setMyCommands)."""
        return ["Boolean"]

    def _placeholder(self, type_name: str) -> Any:
        """A minimal value of a Bot API type; None: the stand-in has no spec to build one from."""
        return None


def _key(chat: JSON, d: JSON) -> tuple[int | str, int]:
    return chat["id"], int(d.get("message_id") or 0)

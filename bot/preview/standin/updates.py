"""Incoming updates: build them (``build_*``), queue them for getUpdates, wait on polling."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.preview.standin.records import JSON, Sent, copy_json
from bot.preview.standin.state import StandInState
from bot.telegram.html import utf16_len


class UpdateBuilders(StandInState):
    """Builds update dicts as Telegram would send them and queues them for getUpdates."""

    # ----- building updates --------------------------------------------------------------------

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

    def build_media(
        self, user_id: int, kind: str, *, caption: str | None = None, **profile: str | None
    ) -> JSON:
        """A private message of another kind: voice, video, audio, document, video_note,
        animation (a file), location or contact."""
        with self._cond:
            user = self._touch_user(user_id, **profile)
            msg = {**self._new_message(self._chats[user_id], user)}
            if kind == "location":
                msg[kind] = {"latitude": 48.8566, "longitude": 2.3522}
            elif kind == "contact":
                msg[kind] = {"phone_number": "+33612345678", "first_name": user["first_name"]}
            else:
                name = f"{kind}_{next(self._ids)}.{'ogg' if kind == 'voice' else 'mp4'}"
                msg[kind] = self._media_json(kind, self._store(name, b"\x00\x01", kind))
            if caption is not None:
                msg["caption"] = caption
            return self._incoming_update("message", msg)

    def build_group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        thread: int | None = None,
        photo: bool = False,
        caption: str | None = None,
        **profile: str | None,
    ) -> JSON:
        """A member writes in a group, in forum topic `thread` if given (text or a photo)."""
        with self._cond:
            user = self._touch_user(user_id, **profile)
            msg = {**self._new_message(self._chats[chat_id], user)}
            if thread is not None:
                msg.update(message_thread_id=thread, is_topic_message=True)
            if photo:
                stored = self._store(f"photo_{next(self._ids)}.jpg", b"\xff\xd8\xff", "photo")
                msg["photo"] = self._media_json("photo", stored)
            if text is not None:
                msg["text" if not photo else "caption"] = text
            if caption is not None:
                msg["caption"] = caption
            command = text.split(maxsplit=1)[0] if text and text.startswith("/") else ""
            if command and not photo:
                msg["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
            return self._incoming_update("message", msg)

    def build_edited_message(self, user_id: int, message_id: int, text: str) -> JSON:
        """The user edits one of their earlier text messages."""
        with self._cond:
            msg = self._incoming.get((user_id, message_id))
            if msg is None:
                raise LookupError(f"user {user_id} sent no message {message_id}")
            msg.update(text=text, edit_date=int(self.clock()))
            msg.pop("entities", None)
            return self._wrap("edited_message", copy_json(msg))

    def build_callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        check: bool = True,
        chat_id: int | None = None,
    ) -> JSON:
        """The user presses the button with this data (default: on the latest bot message of
        their chat with the bot, or of group `chat_id`)."""
        # check=False lets tests send data that is on no button: a stale or forged query.
        with self._cond:
            sent = self._target_message(chat_id or user_id, message_id)
            if check and data not in [value for row in sent.buttons for _, value in row]:
                raise LookupError(f"no button {data!r} on message {sent.message_id}")
            query_id = str(4_000_000_000_000_000 + next(self._ids))
            self._queries.add(query_id)
            query = {
                "id": query_id,
                "from": self._touch_user(user_id),
                "message": copy_json(sent.message),
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
            built = copy_json(dict(update))
            if "update_id" in built:
                self.next_update_id = max(self.next_update_id, int(built["update_id"]) + 1)
            else:
                built = {"update_id": self._take_update_id(), **built}
            for payload in built.values():
                if isinstance(payload, dict):
                    self._learn(payload)
            return built

    # ----- queueing updates --------------------------------------------------------------------

    def enqueue(self, update: JSON) -> JSON:
        """Queue an update for getUpdates and wake long-polls; return it."""
        with self._cond:
            self._pending.append(copy_json(update))
            self._pending.sort(key=lambda u: u["update_id"])
            self._cond.notify_all()
            subscribers = list(self._subscribers)
        for notify in subscribers:
            notify()
        return update

    def message(self, user_id: int, text: str, **kwargs: Any) -> JSON:
        """build_message + enqueue (same keyword arguments)."""
        return self.enqueue(self.build_message(user_id, text, **kwargs))

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

    # ----- the queue and its pollers -----------------------------------------------------------

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates Telegram still holds (not confirmed by a getUpdates offset)."""
        with self._cond:
            return copy_json(self._pending)

    def has_updates(self, offset: int = 0) -> bool:
        """Whether getUpdates(offset) would return something right now."""
        with self._cond:
            return any(u["update_id"] >= offset for u in self._deliverable(100))

    @property
    def poll_count(self) -> int:
        """How many getUpdates calls have started (a long poll counts while it waits)."""
        with self._cond:
            return self._poll_seq

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

    # ----- helpers -----------------------------------------------------------------------------

    def _target_message(self, chat_id: int, message_id: int | None) -> Sent:
        own = [s for s in self._sent_in.get(chat_id, []) if not s.deleted]
        if message_id is not None:
            own = [s for s in own if s.message_id == message_id]
        if not own:
            raise LookupError(f"no visible bot message {message_id or ''} in chat {chat_id}")
        return max(own, key=lambda s: s.message_id)

    def _take_update_id(self) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        return update_id

    def _wrap(self, kind: str, payload: JSON) -> JSON:
        return {"update_id": self._take_update_id(), kind: payload}

    def _incoming_update(self, kind: str, msg: JSON) -> JSON:
        self._incoming[(msg["chat"]["id"], msg["message_id"])] = copy_json(msg)
        return self._wrap(kind, msg)

    def _learn(self, payload: JSON) -> None:
        chat = payload.get("chat")
        if isinstance(chat, dict) and "id" in chat:
            self._chats.setdefault(chat["id"], dict(chat))
        user = payload.get("from")
        if isinstance(user, dict) and "id" in user and not user.get("is_bot"):
            self._users.setdefault(user["id"], dict(user))

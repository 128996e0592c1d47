"""Groups with topics (the team inbox): forums, their topics, and groups upgraded to one."""

from __future__ import annotations

from bot.preview.standin.errors import ApiError, bad
from bot.preview.standin.records import JSON, Files
from bot.preview.standin.state import StandInState

MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"


class Forums(StandInState):
    """Forum supergroups and their topics; the createForumTopic, editForumTopic and
    deleteForumTopic answers; groups migrated to a supergroup."""

    def _init_forums(self) -> None:
        """No forum, no topic, no migrated group yet."""
        self.topics: dict[int | str, dict[int, str]] = {}  # forum chat -> thread id -> name
        self.no_topic_rights: set[int | str] = set()  # forums where the bot may not manage topics
        self._migrated: dict[int | str, int] = {}  # group -> the supergroup it was upgraded to

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

    def _not_migrated(self, chat_id: int | str) -> None:
        """Writing into a group upgraded to a supergroup: 400 naming the new id (not the bot's
        fault: Telegram's ResponseParameters.migrate_to_chat_id tells where it went)."""
        if chat_id in self._migrated:
            raise ApiError(400, MIGRATED, migrate_to_chat_id=self._migrated[chat_id])

    def _check_thread(self, chat_id: int | str, thread: int) -> None:
        """A send into a forum topic: the topic must exist."""
        if thread not in self.topics.get(chat_id, {}):  # deleted by hand: not the bot's fault
            raise ApiError(400, "Bad Request: message thread not found")

    def _create_topic(self, d: JSON, files: Files) -> JSON:
        chat = self._resolve_chat(d.get("chat_id"))
        self._not_migrated(chat["id"])
        # How the group is set up, not a malformed call: not counted as the bot's fault.
        if chat.get("type") != "supergroup" or not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if chat["id"] in self.no_topic_rights:
            raise ApiError(400, "Bad Request: not enough rights to create a topic")
        self._gate(chat["id"], "createForumTopic")  # its service message counts, like a send
        name = str(d.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise bad("topic name must be 1-128 characters")
        thread = self._new_message(chat, self._bot_user())["message_id"]
        self.topics.setdefault(chat["id"], {})[thread] = name
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def _edit_topic(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        topics = self.topics.get(chat["id"], {})
        thread = int(d.get("message_thread_id") or 0)
        if thread not in topics:
            raise bad("message thread not found")
        if "name" in d:
            if topics[thread] == d["name"]:
                raise bad("TOPIC_NOT_MODIFIED")
            topics[thread] = str(d["name"])
        return True

    def _delete_topic(self, d: JSON, files: Files) -> bool:
        chat = self._resolve_chat(d.get("chat_id"))
        thread = int(d.get("message_thread_id") or 0)
        if self.topics.get(chat["id"], {}).pop(thread, None) is None:
            raise bad("message thread not found")
        for sent in self._transcript.get(chat["id"], []):  # its messages go with it
            if sent.message.get("message_thread_id") == thread:
                sent.deleted = True
        return True

"""Every button's callback data, built and parsed in one place.

Each kind of button is a frozen dataclass: `pack()` gives the data string sent to Telegram and
`unpack(data)` reads it back, or None when the data is not one this kind builds (any client can
forge callback data). `pattern` is the regex its `CallbackQueryHandler` routes on: a prefix
match, so forged data under a known prefix still reaches that handler, which answers it.

The strings are byte-identical to those built before this module existed: buttons already sent
in chats must keep working. Numbers are bounded to what SQLite holds, and every string is at
most Telegram's 64 bytes.

| data                        | kind           | sent by                                  |
|-----------------------------|----------------|------------------------------------------|
| `mag:<magnet>`              | PickMagnet     | the menu, "send it again"                |
| `ans:<magnet>:<answer>`     | AnswerQuestion | the qualifying question                  |
| `eml:yes`, `eml:no`         | EmailSuggestion| "did you mean ...?" under a typo         |
| `opt:<magnet>`, `opt:no`    | OptInAgain     | the opt-in question again, after /stop   |
| `otp:new`, `otp:chg`        | CodeButton     | the code email's "new code"/"change"     |
| `fgt:yes`, `fgt:no`         | Forget         | /forget's confirm                        |
| `pln:<magnet>:<tip>`        | PlanButton     | the call to action under a tip           |
| `stp`, `stp:<broadcast>`    | StopButton     | under a tip, under a broadcast           |
| `gol:skip`                  | GoalSkip       | the plan's goal question                 |
| `own:c:<lead>`, `own:w:..`  | OwnerMark      | an owner alert (contacted, won)          |
| `lds:<list>:<page>`         | LeadsPage      | /leads paging                            |
| `crd:<lead>`                | LeadCard       | a lead in /leads                         |
| `inb:<person>`              | InboxDone      | /inbox "handled"                         |
| `bc:<action>:<id>[:<arg>]`  | BroadcastButton| every broadcast step (see BC_ACTIONS)    |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from typing import ClassVar, Literal, Protocol, Self, cast, get_args, get_origin, get_type_hints

from telegram.constants import InlineKeyboardButtonLimit

# SQLite integers are signed 64-bit: a larger number would raise OverflowError in a query.
MAX_ID = 2**63 - 1
MAX_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64
MAX_PAGE = 10**6  # a /leads page further than any list could reach is forged
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also accepts "²" and "١"


class ButtonData(Protocol):
    """What every kind below has: its handler's pattern, and data packed and unpacked."""

    pattern: ClassVar[str]

    def pack(self) -> str:
        """The data string."""
        ...

    @classmethod
    def unpack(cls, data: str | None) -> ButtonData | None:
        """The button, or None if the data is not one."""
        ...


def parse_id(text: str) -> int | None:
    """A non-negative id from callback data, or None if it is not one SQLite can hold."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _split(data: str | None, prefix: str, count: int) -> list[str] | None:
    """`prefix:a:b` as exactly `count` non-empty fields after the prefix, or None."""
    if data is None or len(data.encode()) > MAX_BYTES:
        return None
    head, *rest = data.split(":")
    return rest if head == prefix and len(rest) == count and all(rest) else None


def _join(*parts: object) -> str:
    """The data string, refused loudly if Telegram would refuse it (over 64 bytes)."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


class CallbackData:
    """A kind of button whose data is `<prefix>:<field>:<field>...`, read back field by field.

    Fields are read by their type: `str` as it is (never empty), `int` a bounded id, `bool`
    "yes"/"no", a `Literal` one of its values; any other count of fields is not this kind.
    """

    prefix: ClassVar[str]
    pattern: ClassVar[str]  # by default `^<prefix>:`: forged data there reaches the handler too

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "pattern" not in cls.__dict__:
            cls.pattern = rf"^{cls.prefix}:"

    def pack(self) -> str:
        """The data string."""
        return _join(self.prefix, *(_text(getattr(self, f.name)) for f in fields(self)))  # type: ignore[arg-type]

    @classmethod
    def unpack(cls, data: str | None) -> Self | None:
        """The button, or None if the data is not one."""
        readers = _readers(cast(type, cls))  # classes are hashable; mypy cannot tell for Self
        parts = _split(data, cls.prefix, len(readers))
        if parts is None:
            return None
        values = [read(part) for read, part in zip(readers, parts, strict=True)]
        return None if any(v is None for v in values) else cls(*values)


def _text(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


@cache
def _readers(kind: type) -> list[Callable[[str], object]]:
    """How to read each of a kind's fields from its text, by the field's type."""
    hints = get_type_hints(kind)
    return [_reader(hints[f.name]) for f in fields(kind)]


def _reader(hint: object) -> Callable[[str], object]:
    if hint is int:
        return parse_id
    if hint is bool:
        return {"yes": True, "no": False}.get
    if get_origin(hint) is Literal:
        values = get_args(hint)
        return lambda text: text if text in values else None
    return lambda text: text


@dataclass(frozen=True)
class PickMagnet(CallbackData):
    """`mag:<magnet>`: send me this guide."""

    prefix: ClassVar[str] = "mag"
    magnet_id: str


@dataclass(frozen=True)
class AnswerQuestion(CallbackData):
    """`ans:<magnet>:<answer>`: an answer to a magnet's qualifying question."""

    prefix: ClassVar[str] = "ans"
    magnet_id: str
    answer_id: str


@dataclass(frozen=True)
class EmailSuggestion(CallbackData):
    """`eml:yes` take the suggested address, `eml:no` keep the typed one."""

    prefix: ClassVar[str] = "eml"
    pattern: ClassVar[str] = r"^eml:(yes|no)$"
    yes: bool


@dataclass(frozen=True)
class Forget(CallbackData):
    """`fgt:yes` erase me, `fgt:no` keep me (/forget's confirm)."""

    prefix: ClassVar[str] = "fgt"
    pattern: ClassVar[str] = r"^fgt:(yes|no)$"
    yes: bool


@dataclass(frozen=True)
class OptInAgain(CallbackData):
    """`opt:<magnet>`: opt in again (after /stop) for that guide; `opt:no` declines."""

    prefix: ClassVar[str] = "opt"
    magnet_id: str

    @classmethod
    def declined(cls) -> OptInAgain:
        """The "no" button: its "magnet" is looked up like any other and never found."""
        return cls("no")


CodeAction = Literal["new", "chg"]


@dataclass(frozen=True)
class CodeButton(CallbackData):
    """`otp:new` send another code, `otp:chg` change the address (under the code message)."""

    prefix: ClassVar[str] = "otp"
    pattern: ClassVar[str] = r"^otp:(new|chg)$"
    action: CodeAction


@dataclass(frozen=True)
class PlanButton(CallbackData):
    """`pln:<magnet>:<tip>`: the call to action under a tip."""

    prefix: ClassVar[str] = "pln"
    magnet_id: str
    tip_id: str


@dataclass(frozen=True)
class StopButton(CallbackData):
    """`stp` under a tip, `stp:<broadcast>` under a broadcast (so the click is counted)."""

    prefix: ClassVar[str] = "stp"
    pattern: ClassVar[str] = r"^stp(:[0-9]{1,19})?$"
    broadcast_id: int | None = None

    def pack(self) -> str:
        """The data string."""
        return "stp" if self.broadcast_id is None else _join("stp", self.broadcast_id)

    @classmethod
    def unpack(cls, data: str | None) -> StopButton | None:
        """The button, or None if the data is not one."""
        if data == "stp":
            return cls()
        parts = _split(data, "stp", 1)
        broadcast_id = parse_id(parts[0]) if parts else None
        return None if broadcast_id is None else cls(broadcast_id)


@dataclass(frozen=True)
class GoalSkip(CallbackData):
    """`gol:skip`: no goal to tell before the plan request."""

    prefix: ClassVar[str] = "gol"
    pattern: ClassVar[str] = r"^gol:skip$"
    what: Literal["skip"] = "skip"


OwnerAction = Literal["c", "w"]


@dataclass(frozen=True)
class OwnerMark(CallbackData):
    """`own:c:<lead>` contacted, `own:w:<lead>` won: under an owner alert or a lead card."""

    prefix: ClassVar[str] = "own"
    action: OwnerAction
    lead_id: int


@dataclass(frozen=True)
class LeadsPage(CallbackData):
    """`lds:<list>:<page>`: a page of /leads (also kept to redraw it after an erasure)."""

    prefix: ClassVar[str] = "lds"
    name: str
    page: int

    @classmethod
    def unpack(cls, data: str | None) -> LeadsPage | None:
        """The page, or None if the data is not one (the list name is checked by its reader)."""
        page = super().unpack(data)
        return page if page is not None and page.page < MAX_PAGE else None


@dataclass(frozen=True)
class LeadCard(CallbackData):
    """`crd:<lead>`: that lead's card (owners, from /leads)."""

    prefix: ClassVar[str] = "crd"
    person: int


@dataclass(frozen=True)
class InboxDone(CallbackData):
    """`inb:<person>`: this conversation is handled (owners, from /inbox)."""

    prefix: ClassVar[str] = "inb"
    person: int


BroadcastAction = Literal["s", "t", "go", "x", "v", "l", "w", "at", "r", "u"]
BC_ACTIONS: tuple[BroadcastAction, ...] = get_args(BroadcastAction)
# What follows `bc:<action>:<id>`: nothing, a number (a segment index, a unix time), a language.
_BC_ARG: dict[str, Literal["", "number", "text"]] = {
    "s": "number",  # the n-th segment offered
    "t": "",  # a test to the owner
    "go": "number",  # confirm, for the n-th segment
    "x": "",  # cancel (or stop a running one)
    "v": "text",  # add a version in that language
    "l": "",  # add a link button
    "w": "number",  # send later, for the n-th segment
    "at": "number",  # at that unix time
    "r": "",  # reschedule
    "u": "",  # send an ended one again to its unknown recipients
}


@dataclass(frozen=True)
class BroadcastButton(CallbackData):
    """`bc:<action>:<id>` or `bc:<action>:<id>:<arg>`: an owner's step on a broadcast."""

    prefix: ClassVar[str] = "bc"
    action: BroadcastAction
    broadcast_id: int
    number: int | None = None  # for s, go, w (a segment index) and at (a unix time)
    lang: str | None = None  # for v

    def pack(self) -> str:
        """The data string."""
        kind = _BC_ARG[self.action]
        arg = self.number if kind == "number" else self.lang if kind == "text" else None
        given = [a for a in (self.number, self.lang) if a is not None]
        if given != ([] if arg is None else [arg]) or (kind and arg is None):
            raise ValueError(f"bc:{self.action} takes {kind or 'no'} argument")
        tail = () if arg is None else (arg,)
        return _join("bc", self.action, self.broadcast_id, *tail)

    @classmethod
    def unpack(cls, data: str | None) -> BroadcastButton | None:
        """The button, or None if the data is not one."""
        parts = data.split(":") if data is not None else []
        action = next((a for a in BC_ACTIONS if len(parts) > 1 and parts[1] == a), None)
        if action is None:
            return None
        kind = _BC_ARG[action]
        fields = _split(data, "bc", 2 if kind == "" else 3)
        broadcast_id = parse_id(fields[1]) if fields else None
        if fields is None or broadcast_id is None:
            return None
        if kind == "number":
            number = parse_id(fields[2])
            return None if number is None else cls(action, broadcast_id, number=number)
        return cls(action, broadcast_id, lang=fields[2] if kind == "text" else None)


# Every kind, for the tests and the reader: one prefix each, all routed in bot/app.py.
KINDS: tuple[type[ButtonData], ...] = (
    PickMagnet,
    AnswerQuestion,
    EmailSuggestion,
    OptInAgain,
    CodeButton,
    Forget,
    PlanButton,
    StopButton,
    GoalSkip,
    OwnerMark,
    LeadsPage,
    LeadCard,
    InboxDone,
    BroadcastButton,
)

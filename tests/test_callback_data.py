"""Callback data: every kind packs to the strings buttons already carry and reads them back."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.telegram import callback_data as cb

# (button, the exact string chats already hold): these must never change.
SENT = [
    (cb.PickMagnet("seo-guide"), "mag:seo-guide"),
    (cb.AnswerQuestion("seo-guide", "solo"), "ans:seo-guide:solo"),
    (cb.EmailSuggestion(True), "eml:yes"),
    (cb.EmailSuggestion(False), "eml:no"),
    (cb.OptInAgain("seo-guide"), "opt:seo-guide"),
    (cb.OptInAgain.declined(), "opt:no"),
    (cb.CodeButton("new"), "otp:new"),
    (cb.CodeButton("chg"), "otp:chg"),
    (cb.Forget(True), "fgt:yes"),
    (cb.Forget(False), "fgt:no"),
    (cb.PlanButton("seo-guide", "day-2"), "pln:seo-guide:day-2"),
    (cb.StopButton(), "stp"),
    (cb.StopButton(42), "stp:42"),
    (cb.GoalSkip(), "gol:skip"),
    (cb.OwnerMark("c", 7), "own:c:7"),
    (cb.OwnerMark("w", 7), "own:w:7"),
    (cb.LeadsPage("hot", 1), "lds:hot:1"),
    (cb.LeadCard(7), "crd:7"),
    (cb.InboxDone(7), "inb:7"),
    (cb.BroadcastButton("s", 3, number=2), "bc:s:3:2"),
    (cb.BroadcastButton("t", 3), "bc:t:3"),
    (cb.BroadcastButton("go", 3, number=0), "bc:go:3:0"),
    (cb.BroadcastButton("x", 3), "bc:x:3"),
    (cb.BroadcastButton("v", 3, lang="fr"), "bc:v:3:fr"),
    (cb.BroadcastButton("l", 3), "bc:l:3"),
    (cb.BroadcastButton("w", 3, number=1), "bc:w:3:1"),
    (cb.BroadcastButton("at", 3, number=1767600000), "bc:at:3:1767600000"),
    (cb.BroadcastButton("r", 3), "bc:r:3"),
    (cb.BroadcastButton("u", 3), "bc:u:3"),
]


@pytest.mark.parametrize(("button", "data"), SENT, ids=[d for _, d in SENT])
def test_pack_is_the_string_already_sent_and_unpacks_back(button: object, data: str) -> None:
    assert button.pack() == data  # type: ignore[attr-defined]
    assert type(button).unpack(data) == button  # type: ignore[attr-defined]
    assert re.match(type(button).pattern, data)  # type: ignore[attr-defined]


def test_every_kind_is_covered_and_every_prefix_routes_to_one_kind() -> None:
    assert {type(b) for b, _ in SENT} == set(cb.KINDS)
    for _, data in SENT:
        routed = [k for k in cb.KINDS if re.match(k.pattern, data)]
        assert routed == [type(next(b for b, d in SENT if d == data))]


def test_every_broadcast_action_is_covered() -> None:
    assert {b.action for b, _ in SENT if isinstance(b, cb.BroadcastButton)} == set(cb.BC_ACTIONS)


FORGED = [
    (cb.PickMagnet, ["mag:", "mag", "mag:a:b", "opt:a", None]),
    (cb.AnswerQuestion, ["ans:m", "ans:m:", "ans:m:a:b", "ans::a"]),
    (cb.EmailSuggestion, ["eml:maybe", "eml:", "eml:yes:1", "fgt:yes"]),
    (cb.OptInAgain, ["opt:", "opt:a:b", "mag:a"]),
    (cb.CodeButton, ["otp:", "otp:old", "otp:new:1"]),
    (cb.Forget, ["fgt:", "fgt:YES", "eml:yes"]),
    (cb.PlanButton, ["pln:m", "pln:m:t:x", "pln::t"]),
    (cb.StopButton, ["stp:", "stp:x", "stp:-1", "stp:²", "stp:9223372036854775808", "stp:1:2"]),
    (cb.GoalSkip, ["gol:", "gol:skip:1", "gol:no"]),
    (cb.OwnerMark, ["own:c", "own:z:1", "own:c:x", "own:c:1:2", "own:w:99999999999999999999"]),
    (cb.LeadsPage, ["lds:hot", "lds:hot:x", "lds:hot:1000000", "lds::1", "lds:hot:-1"]),
    (cb.LeadCard, ["crd:", "crd:x", "crd:1:2", "crd:١"]),
    (cb.InboxDone, ["inb:", "inb:x", "inb:1:2"]),
    (
        cb.BroadcastButton,
        [
            "bc:",
            "bc:zz:1",
            "bc:x",
            "bc:x:y",
            "bc:x:1:2",
            "bc:s:1",
            "bc:s:1:y",
            "bc:go:1:2:3",
            "bc:v:1",
            "bc:v:1:",
            "bc:at:1:-5",
            "bc:t:9223372036854775808",
        ],
    ),
]


@pytest.mark.parametrize(("kind", "forged"), FORGED, ids=[k.__name__ for k, _ in FORGED])
def test_forged_data_unpacks_to_none(kind: Any, forged: list[str | None]) -> None:
    for data in forged:
        assert kind.unpack(data) is None, data


def test_over_64_bytes_is_refused_both_ways() -> None:
    long = "a" * 61
    with pytest.raises(ValueError, match="64 bytes"):
        cb.PickMagnet(long).pack()
    assert cb.PickMagnet.unpack("mag:" + long) is None
    assert cb.PickMagnet.unpack("mag:" + "a" * 60) == cb.PickMagnet("a" * 60)
    assert cb.PickMagnet.unpack("mag:" + "é" * 31) is None  # 66 bytes, 35 characters


def test_the_longest_catalogue_ids_fit() -> None:
    # Catalogue ids: magnets up to 24 characters, answers and tips up to 16.
    assert len(cb.AnswerQuestion("m" * 24, "a" * 16).pack()) <= cb.MAX_BYTES
    assert len(cb.PlanButton("m" * 24, "t" * 16).pack()) <= cb.MAX_BYTES
    assert len(cb.BroadcastButton("at", cb.MAX_ID, number=cb.MAX_ID).pack()) <= cb.MAX_BYTES


def test_a_broadcast_button_refuses_a_missing_or_extra_argument() -> None:
    with pytest.raises(ValueError):
        cb.BroadcastButton("s", 1).pack()
    with pytest.raises(ValueError):
        cb.BroadcastButton("x", 1, number=2).pack()
    with pytest.raises(ValueError):
        cb.BroadcastButton("v", 1).pack()


def test_parse_id_bounds() -> None:
    assert cb.parse_id("0") == 0
    assert cb.parse_id(str(cb.MAX_ID)) == cb.MAX_ID
    assert cb.parse_id(str(cb.MAX_ID + 1)) is None
    assert cb.parse_id("") is None and cb.parse_id("1e3") is None and cb.parse_id("²") is None


def test_every_kind_is_routed_to_its_handler_once() -> None:
    from bot.app import BUTTONS

    routed = [kind for kind, _ in BUTTONS]
    assert sorted(routed, key=str) == sorted(cb.KINDS, key=str)  # each once, none left out

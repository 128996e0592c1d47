"""The README's state diagram of the conversation matches the text router's tables."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.menu import OTHER_ROUTES, TEXT_ROUTES

README = Path(__file__).resolve().parents[1] / "README.md"
NO_STEP = "none"  # the diagram's name for "no step" (None in the tables)


def diagram() -> str:
    """The mermaid state diagram under "The conversation, step by step"."""
    section = README.read_text(encoding="utf-8").split("### The conversation, step by step")[1]
    found = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)```", section, re.DOTALL)
    assert found, "no mermaid state diagram in the section"
    return found.group(1)


def states(text: str) -> set[str]:
    """Every state a transition names (`[*]`, the start, left out)."""
    names: set[str] = set()
    for line in text.splitlines()[1:]:
        moved = re.fullmatch(r"\s*(\S+) --> (\S+?)(?::.*)?", line)
        assert moved, f"not a transition: {line!r}"
        names.update(moved.groups())
    return names - {"[*]"}


def test_the_diagram_names_every_step_of_the_router_and_no_other() -> None:
    steps = {NO_STEP if step is None else step for step in TEXT_ROUTES}
    assert states(diagram()) == steps


def test_every_step_has_a_way_in_and_a_way_out() -> None:
    moves = [re.split(r" --> |:", line.strip())[:2] for line in diagram().splitlines()[1:]]
    for step in states(diagram()) - {NO_STEP}:
        assert any(b == step and a != step for a, b in moves), f"nothing leads to {step}"
        assert any(a == step and b != step for a, b in moves), f"{step} leads nowhere"


def test_anything_but_text_is_routed_only_in_steps_that_take_text() -> None:
    assert set(OTHER_ROUTES) <= set(TEXT_ROUTES)

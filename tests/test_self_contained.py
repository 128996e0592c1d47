"""A fresh clone with nothing beside it tests and runs: the project keeps its own Bot API spec."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.fakeapi import DEFAULT_SPEC_PATH

ROOT = Path(__file__).resolve().parents[1]


def test_the_spec_copy_is_inside_the_project_with_its_licence_and_source() -> None:
    """The tests' fake validates against a copy under tests/, with its licence and origin."""
    assert DEFAULT_SPEC_PATH.resolve().is_relative_to(ROOT / "tests")
    spec = json.loads(DEFAULT_SPEC_PATH.read_text(encoding="utf-8"))
    assert "sendMessage" in spec["methods"] and "Message" in spec["types"]
    folder = DEFAULT_SPEC_PATH.parent
    assert "MIT" in (folder / "LICENSE").read_text(encoding="utf-8")
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "PaulSonOfLars/telegram-bot-api-spec" in source
    assert "160fd99507e1c7c77e92dc90f5993d724735b51c" in source


# The sibling folder the spec once came from, spelt in pieces so this file does not match itself.
FORBIDDEN = (".." + "/shared", "shared" + "/telegram-bot-api")
SKIPPED = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}


def test_nothing_in_the_project_reads_the_shared_folder() -> None:
    """No code, test or setting points outside the repository (a clone or a plain copy)."""
    offenders = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        script = path.parent.name == ".ci"  # .ci/run has no suffix
        if not script and path.suffix not in {".py", ".toml", ".cfg", ".ini", ".sh", ".service"}:
            continue
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(needle in text for needle in FORBIDDEN):
            offenders.append(name)
    assert offenders == []


def test_the_wheel_carries_every_package() -> None:
    """pyproject finds every package under bot/ and handlers/; the spec copy is not one of them."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"bot.*"' in config and '"handlers.*"' in config
    assert "telegram-bot-api" not in config and "package-data" not in config
    packages = {p.parent for p in (ROOT / "bot").rglob("*.py")}
    assert all((p / "__init__.py").exists() for p in packages), "a folder without __init__.py"


def test_the_product_holds_none_of_the_tests_fake() -> None:
    """No module of bot/ or handlers/ imports tests (the wheel has no tests package), and the
    spec copy, the HTTP server and the fault injection stay under tests/."""
    importing = []
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(name == "tests" or name.startswith("tests.") for name in names):
                importing.append(path.relative_to(ROOT).as_posix())
    assert importing == []
    assert [p.name for p in (ROOT / "bot").rglob("*.json")] == []
    assert not (ROOT / "bot" / "preview" / "fake").exists()
    standin = (ROOT / "bot" / "preview" / "standin").glob("*.py")
    assert {p.stem for p in standin} & {"spec", "server", "faults", "limits"} == set()


def test_the_preview_imports_without_the_tests() -> None:
    """`aimant preview` runs on the stand-in alone: importing it needs nothing from tests/."""
    code = (
        "import sys; sys.modules['tests'] = None\n"  # `import tests...` now raises ImportError
        "import bot.preview.chat, bot.preview.standin\n"
        "assert not [m for m in sys.modules if m.startswith('tests.')]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_library_the_code_imports_is_a_declared_dependency() -> None:
    """A module imported by bot/ or handlers/ comes from a package pyproject names (a library
    only present as another's dependency may go away with that one)."""
    declared = {
        re.split(r"[\[<>=~ ]", d, maxsplit=1)[0].lower().replace("_", "-")
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    imported: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    own = {"bot", "handlers", "__future__"}
    third_party = imported - own - set(sys.stdlib_module_names)
    providers = packages_distributions()
    undeclared = {
        module: providers.get(module)
        for module in third_party
        if not {d.lower().replace("_", "-") for d in providers.get(module, [])} & declared
    }
    assert third_party and undeclared == {}

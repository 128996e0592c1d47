"""deploy/aimant@.service with the README's steps (`cp .env.example .env`, installed as
/etc/aimant/aimant.env): each instance gets its own port and a balancer elsewhere reaches it.

systemd's precedence, as systemd.exec says and as simulated here: Environment= lines first,
then each EnvironmentFile= in order (a later one overrides an earlier one and Environment=),
then the assignments of `/usr/bin/env NAME=value ...` on the command line win over both.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "aimant@.service"


def _service(instance: str) -> list[tuple[str, str]]:
    """The [Service] section's settings, in order, with %i expanded."""
    section, out = "", []
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            out.append((key, value.replace("%i", instance)))
    return out


def _env_file(text: str) -> dict[str, str]:
    """KEY=value lines (comments and blank lines skipped), as the settings files have them."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def environment(instance: str, files: dict[str, str]) -> dict[str, str]:
    """The environment systemd gives the process of `aimant@<instance>`; `files` are the
    EnvironmentFile= contents by path (a missing `-`-prefixed file is skipped)."""
    env: dict[str, str] = {}
    settings = _service(instance)
    for key, value in settings:
        if key == "Environment":
            for word in shlex.split(value):
                name, _, val = word.partition("=")
                env[name] = val
    for key, value in settings:
        if key == "EnvironmentFile":
            path = value.removeprefix("-")
            if path in files:
                env.update(_env_file(files[path]))
            else:
                assert value.startswith("-"), f"{path} is required"
    [start] = [value for key, value in settings if key == "ExecStart"]
    argv = shlex.split(start)
    if argv[0] == "/usr/bin/env":
        for word in argv[1:]:
            if "=" not in word:
                break
            name, _, val = word.partition("=")
            env[name] = val
    return env


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("instance", ["1", "2", "3"])
def test_each_instance_listens_on_its_own_port_whatever_aimant_env_says(
    instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (ROOT / ".env.example").read_text()
    # An aimant.env copied from .env.example, and one that sets the port and listen anyway
    # (an old copy): the instance's port wins in both; a per-instance file may set LISTEN.
    old = example + "\nWEBHOOK_PORT=8080\n"
    for shared, own, listen in (
        (example, None, "0.0.0.0"),
        (old, None, "0.0.0.0"),
        (old + "WEBHOOK_LISTEN=127.0.0.1\n", None, "127.0.0.1"),
        (example, "WEBHOOK_LISTEN=10.0.0.5\nWEBHOOK_PORT=9999\n", "10.0.0.5"),
    ):
        files = {"/etc/aimant/aimant.env": shared}
        if own is not None:
            files[f"/etc/aimant/aimant-{instance}.env"] = own
        env = environment(instance, files)
        with monkeypatch.context() as patch:
            settings = settings_of(env, patch)
        assert settings.webhook_port == int(f"808{instance}")
        assert settings.webhook_listen == listen


def test_env_example_keeps_the_single_process_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick start (`cp .env.example .env`, one process) listens where it always did."""
    settings = settings_of(_env_file((ROOT / ".env.example").read_text()), monkeypatch)
    assert (settings.webhook_listen, settings.webhook_port) == ("127.0.0.1", 8080)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "aimant@.service"
    unit.write_text(UNIT.read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "aimant@1.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

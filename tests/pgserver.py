"""A throwaway PostgreSQL 15 server for the tests: its own data directory, a free local port.

`PgServer.start()` runs initdb, then the server (as `nobody` when the tests run as root:
PostgreSQL refuses to run as root), listening on 127.0.0.1 and on a unix socket in its own
temporary folder; `stop()` stops it and removes the folder. Each test gets a fresh database
(`create_database`, dropped after). Without the binaries, `missing()` says why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
USER, PASSWORD = "aimant", "s3cret-test-password"


def _dirs() -> tuple[Path, ...]:
    """Where to look: AIMANT_PG_BIN (another installation) if set, else Debian's place."""
    chosen = os.environ.get("AIMANT_PG_BIN")
    return (Path(chosen),) if chosen else BIN_DIRS


def bin_dir() -> Path | None:
    """The folder of initdb, pg_ctl and postgres (PostgreSQL 15), if installed."""
    for folder in _dirs():
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    if bin_dir() is None:
        return (
            "PostgreSQL 15 is not installed (no initdb/pg_ctl/postgres in "
            f"{', '.join(map(str, _dirs()))}): apt-get install postgresql-15"
        )
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL server, started and stopped by the tests."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError(missing())
        # As root, in /tmp itself: `nobody` must reach the folder (TMPDIR may be root's own).
        where = "/tmp" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="aimant-pg-", dir=where))
        self.data = self.root / "data"
        self.port = 0
        self._as: list[str] = []
        self._count = 0
        if os.geteuid() == 0:  # postgres never runs as root: as nobody, in a folder of its own
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                        "--clear-groups"]  # fmt: skip

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def start(self) -> PgServer:
        assert self.bin is not None
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        done = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
            "--no-sync",
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        for _ in range(5):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            done = self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                "-o", options, "-w", "-t", "60", "start",
            )  # fmt: skip
            if done.returncode == 0:
                return self
            time.sleep(0.2)  # the port was taken meanwhile: another one
        log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr or done.stdout}\n{log}")

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL for a database of this server (TCP, with the password)."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql over the unix socket (no password); its output."""
        assert self.bin is not None
        psql = shutil.which("psql") or str(self.bin / "psql")
        done = subprocess.run(
            [psql, "-h", str(self.root), "-p", str(self.port), "-U", USER, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def create_database(self) -> str:
        """A new empty database; its name."""
        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new empty database while the block runs (dropped after); its name."""
        name = self.create_database()
        try:
            yield name
        finally:
            self.drop_database(name)

    def stop(self) -> None:
        assert self.bin is not None
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

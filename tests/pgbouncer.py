"""A throwaway PgBouncer in front of the tests' PostgreSQL server (tests/pgserver.py).

`PgBouncer(server).start()` writes its configuration and user list into a folder of its own,
then runs it (as `nobody` when the tests run as root, like the server: PgBouncer refuses to
run as root) on a free port of 127.0.0.1, every database forwarded to the server over TCP;
clients log in with the server's own user and password (SCRAM). `stop()` stops it and removes
the folder. Without the binary, `missing()` says why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pgserver import PASSWORD, USER, PgServer, free_port

BINARY = Path("/usr/sbin/pgbouncer")
# PgBouncer's own TCP keepalives on its sockets, the clients' included (the bot's KEEPALIVE
# reaches only the server's end of PgBouncer's server connections): the README's lines.
BOUNCER_KEEPALIVE = {
    "tcp_keepalive": "1",
    "tcp_keepidle": "5",
    "tcp_keepintvl": "2",
    "tcp_keepcnt": "3",
    "tcp_user_timeout": "10000",
}


def binary() -> Path:
    """PgBouncer's executable: AIMANT_PGBOUNCER if set, else Debian's place."""
    return Path(os.environ.get("AIMANT_PGBOUNCER") or BINARY)


def missing() -> str | None:
    """Why no PgBouncer can be started here, or None."""
    if not os.access(binary(), os.X_OK):
        return f"PgBouncer is not installed (no {binary()}): apt-get install pgbouncer"
    return None


class PgBouncer:
    """One PgBouncer, `pool_mode` session (or transaction), started and stopped by the tests."""

    def __init__(self, server: PgServer, pool_mode: str = "session", **settings: str) -> None:
        self.server, self.pool_mode, self.settings = server, pool_mode, settings
        where = "/tmp" if os.geteuid() == 0 else None  # `nobody` must reach it (see PgServer)
        self.root = Path(tempfile.mkdtemp(prefix="aimant-pgb-", dir=where))
        self.port = 0
        self._as: list[str] = []
        self._uid = -1
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._uid = nobody.pw_uid
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                        "--clear-groups"]  # fmt: skip

    def _write(self, name: str, text: str) -> Path:
        """A file of its folder, readable by the user PgBouncer runs as."""
        path = self.root / name
        path.write_text(text)
        if self._uid >= 0:
            os.chown(path, self._uid, -1)
        return path

    def _config(self) -> Path:
        users = self._write("userlist.txt", f'"{USER}" "{PASSWORD}"\n')
        lines = [
            "[databases]",
            f"* = host=127.0.0.1 port={self.server.port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",  # TCP only, as from another machine
            "auth_type = scram-sha-256",
            f"auth_file = {users}",
            f"pool_mode = {self.pool_mode}",
            f"logfile = {self.root / 'log'}",
            "max_client_conn = 200",
            "default_pool_size = 50",
            *(f"{name} = {value}" for name, value in self.settings.items()),
        ]
        return self._write("pgbouncer.ini", "\n".join(lines) + "\n")

    def start(self) -> PgBouncer:
        """Run it; return once it accepts connections (a taken port: another one)."""
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [*self._as, str(binary()), str(self._config())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._listening(10.0):
                return self
            self._end()
        raise RuntimeError(f"PgBouncer did not start:\n{self.log()}")

    def _listening(self, seconds: float) -> bool:
        """Whether it accepts TCP connections within `seconds` (False if it exited)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, database: str) -> str:
        """A postgresql:// URL for a database of the server, through this PgBouncer."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _end(self) -> None:
        """SIGTERM (its immediate shutdown: clients cut), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self._end()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

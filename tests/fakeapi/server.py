"""FakeTelegramServer: a FakeTelegram over HTTP on 127.0.0.1, for a bot in another process.

PTB's convention: ``Bot(token, base_url=server.base_url, base_file_url=server.base_file_url)``
calls ``{base_url}{token}/{method}``; a bot started as ``python -m bot`` needs the same two URLs.
"""

from __future__ import annotations

import contextlib
import email.policy
import itertools
import json
import re
import socket
import struct
import threading
import time
import traceback
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakeapi.core import FakeTelegram, Files
from tests.fakeapi.records import Arrival

_API_PATH = re.compile(r"/bot([^/]+)/([A-Za-z0-9_]+)/?")


class Gate:
    """The requests a server is answering (arrived, no answer written yet), and its freeze:
    frozen, every request waits (as if the network to that one bot process were cut), and
    thawed with ``drop`` those that waited fail without effect (the process is dead)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open: dict[int, Arrival] = {}  # ticket -> the request being answered
        self._tickets = itertools.count()
        self._frozen = False
        self._drop = False
        self.waiting = 0  # requests held by the freeze now
        self._passed: set[int] = set()  # tickets let through, their answer not yet written

    def enter(self, arrival: Arrival) -> int:
        """A request arrived: its ticket."""
        with self._cond:
            ticket = next(self._tickets)
            self._open[ticket] = arrival
            return ticket

    def leave(self, ticket: int) -> None:
        """Its answer was written (or it failed)."""
        with self._cond:
            self._open.pop(ticket, None)
            self._passed.discard(ticket)
            self._cond.notify_all()

    def pass_through(self, ticket: int, effect: bool = True, timeout: float = 120.0) -> bool:
        """Before answering: wait while frozen; False if the request must be dropped. A call
        with an `effect` let through is waited for by a freeze (not a long poll)."""
        with self._cond:
            if not self._frozen:
                if effect:
                    self._passed.add(ticket)
                return True
            self.waiting += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._frozen, timeout)
            self.waiting -= 1
            return not self._drop

    def freeze(self) -> None:
        """Stop answering: requests arriving or in latency now wait. Returns once those let
        through before are answered: every request still open is then held (a test's
        "in flight at the stall" is exactly what never reached Telegram)."""
        with self._cond:
            self._frozen, self._drop = True, False
            self._cond.wait_for(lambda: not self._passed, 10.0)

    def thaw(self, *, drop: bool = False) -> None:
        """Answer again; with ``drop`` the held requests fail (the connection died)."""
        with self._cond:
            self._frozen, self._drop = False, drop
            self._cond.notify_all()

    def in_flight(self) -> list[Arrival]:
        """The requests that arrived and got no answer yet, oldest first."""
        with self._cond:
            return [self._open[t] for t in sorted(self._open)]


class _Server(ThreadingHTTPServer):
    # Daemon threads and no join on close: a long-polling handler must not hold up stop().
    daemon_threads = True
    block_on_close = False
    # Many bot connections at once (a cluster's, a bench's): socketserver's backlog of 5 would
    # reset the surplus, and the bot would see network errors Telegram never gives.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], fake: FakeTelegram, token: str | None, name: str | None
    ) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self.token = token
        self.name = name
        self.gate = Gate()


class _Handler(BaseHTTPRequestHandler):
    """Serves /bot<token>/<method> and /file/bot<token>/<path> from the server's FakeTelegram."""

    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from Telegram
    server: _Server
    received: float | None = None  # the kernel's time for this request's first bytes

    def setup(self) -> None:
        """Ask the kernel to stamp what this connection receives (SO_TIMESTAMPNS)."""
        super().setup()
        with contextlib.suppress(OSError):  # no such option: the fake's clock at the read
            self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def handle_one_request(self) -> None:
        """Stamp the request when it reached this machine, before this thread reads it.

        Telegram counts its limits where requests arrive; this thread may read them tens of
        ms later on a loaded machine (the GIL, the test's own threads), which would bunch
        arrivals that came evenly. httpx sends one request at a time on a connection, so none
        is left in the reader's buffer here: the kernel's next bytes are this request's.
        """
        self.received = kernel_received(self.connection)
        super().handle_one_request()

    def do_GET(self) -> None:
        """GET with a query string (or a file download)."""
        self._serve()

    def do_POST(self) -> None:
        """POST with a JSON, urlencoded or multipart body."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read fake.calls, not access logs."""

    def _serve(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. a cancelled long poll)
        except Exception as exc:
            # A bug in the fake: answer instead of dropping the connection, and show it.
            traceback.print_exc()
            self._json(500, {"ok": False, "error_code": 500, "description": repr(exc)})

    def _answer(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        fake = self.server.fake
        if url.path.startswith("/file/bot"):
            file_path = unquote(url.path[len("/file/bot") :].partition("/")[2])
            data = fake.file_bytes(file_path)
            if data is None:
                self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            else:
                self._reply(200, data, "application/octet-stream")
            return
        match = _API_PATH.fullmatch(url.path)
        if match is None:
            self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        if self.server.token is not None and match.group(1) != self.server.token:
            self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        try:
            params, files = parse_body(self.headers.get("Content-Type", ""), body)
        except ValueError as exc:
            self._json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        params = {**dict(parse_qsl(url.query, keep_blank_values=True)), **params}
        method, gate = match.group(2), self.server.gate
        at = self.received if fake.clock is time.time else None  # a test's own clock: its time
        arrival = fake.arrival(method, params, via=self.server.name, at=at)
        ticket = gate.enter(arrival)
        try:
            if fake.latency:
                time.sleep(fake.latency)
            effect = method.lower() != "getupdates"  # a long poll holds no send
            if not gate.pass_through(ticket, effect) or not fake.wait_if_held(method):
                self._json(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
                return
            status, answer = fake.respond(method, params, files, arrived=arrival.at)  # serialised
            self._json(status, answer)
        finally:
            gate.leave(ticket)

    def _read_body(self) -> bytes:
        """The whole body; a client gone mid-request (killed mid-write) gets nothing acted on,
        as from Telegram: ConnectionResetError, so the call is never recorded."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                if not line:
                    raise ConnectionResetError("the client went away mid-request")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if not size:
                    break
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise ConnectionResetError("the client went away mid-request")
                chunks.append(chunk)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionResetError("the client went away mid-request")
        return body

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._reply(status, json.dumps(body).encode("utf-8"), "application/json")

    def _reply(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python may not name it


def kernel_received(sock: socket.socket) -> float | None:
    """When the kernel received the next bytes waiting on `sock` (waits for them), in
    time.time()'s seconds; None without a stamp or at the end of the stream."""
    try:
        data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, stamp in ancillary:
        if data and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(stamp) >= 16:
            seconds, nanoseconds = struct.unpack("qq", stamp[:16])
            return seconds + nanoseconds / 1e9
    return None


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], Files]:
    """Decode a Bot API request body: JSON, urlencoded or multipart/form-data."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}, {}
    if kind == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("the JSON body must be an object")
        return decoded, {}
    if kind == "multipart/form-data":
        return _multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), {}


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], Files]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("can't parse multipart body")
    params: dict[str, Any] = {}
    files: Files = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            params[_utf8(name)] = data.decode(part.get_content_charset() or "utf-8")
        else:
            files[_utf8(name)] = (_form_unescape(_utf8(filename)), data)
    return params, files


def _form_unescape(name: str) -> str:
    # httpx (like browsers, per HTML5) percent-escapes exactly these three in form names.
    return name.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


def _utf8(text: str) -> str:
    # Header bytes arrive as surrogate-escaped ASCII; httpx writes non-ASCII names as raw UTF-8.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return text


class FakeTelegramServer:
    """A threaded HTTP front for a FakeTelegram on 127.0.0.1 with an ephemeral port."""

    def __init__(
        self,
        fake: FakeTelegram,
        *,
        port: int = 0,
        token: str | None = None,
        name: str | None = None,
    ) -> None:
        """``name``: recorded in each arrival's ``via`` (one server per bot process tells the
        processes' requests apart, all answered by the one fake)."""
        self.fake = fake
        self._httpd = _Server(("127.0.0.1", port), fake, token, name)
        self._thread: threading.Thread | None = None

    @property
    def gate(self) -> Gate:
        """This server's requests in flight, and its freeze (see Gate)."""
        return self._httpd.gate

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """PTB's base_url: the token and "/method" are appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's base_file_url: the token and "/file_path" are appended to it."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> FakeTelegramServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-telegram-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Answer pending long-polls, stop serving and close the socket."""
        self.fake.wake_pollers()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""Serve a visual Turing test on http://127.0.0.1:PORT/ with the standard library's ``ThreadingHTTPServer``.

Why the standard library: one participant on one machine, four routes and a few requests a second need no
framework, and ``http.server`` adds no dependency, starts in milliseconds, and runs in a background thread
with port 0 for the tests. Threads, so a slow image read does not hold up an answer.

Routes (nothing in any of them names a set, a file or an answer's truth):

- ``GET /``: the page (``page.html``): one image at a time, buttons and keys, a progress bar, the results.
- ``GET /state``: ``{"total", "answered", "token", "height", "width", "results"}``; ``results`` (the score,
  :mod:`simgan.turing.score`) only once every trial is answered.
- ``GET /image/<token>``: the trial's image as a freshly encoded PNG (404 for a token not in the study).
- ``POST /answer`` (JSON ``{"token", "answer", "ms"}``): records the answer to the current trial, on disk
  before the reply, and returns the new state; 409 with the state when the token is not the current
  trial (a second tab, a repeated key), 400 for a malformed answer.

Only 127.0.0.1 is bound, and a request whose ``Host`` is not this server's is refused (a web page elsewhere
cannot reach the study by DNS rebinding); the answer route takes only ``application/json``, which a page
from another origin cannot post without a CORS preflight this server never grants.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simgan.atomic import locked_folder
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.turing.study import StaleAnswer, Study

__all__ = ["HOST", "DEFAULT_PORT", "TuringServer", "serve_study"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PAGE = resources.files(__package__).joinpath("page.html").read_bytes()
_MAX_BODY = 4096
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    ),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    study: Study
    hosts: frozenset[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "simgan-turing"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal is the experimenter's, and a request line per image says nothing."""

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        study = self.server.study
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, PAGE, "text/html; charset=utf-8")
        elif path == "/state":
            self._json(HTTPStatus.OK, study.state())
        elif path.startswith("/image/"):
            try:
                png = study.image_png(path[len("/image/") :])
            except KeyError:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such image"})
                return
            except InputError as e:  # the message names the file, and so the set: keep it off the page
                print(f"simgan turing: {e}", file=sys.stderr)
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "unreadable image (see the terminal)"})
                return
            self._send(HTTPStatus.OK, png, "image/png")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/answer":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        if self.headers.get_content_type() != "application/json":
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send application/json"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= _MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"expected a JSON body of 1 to {_MAX_BODY} bytes"})
            return
        study = self.server.study
        try:
            body = json.loads(self.rfile.read(length))
            study.record(str(body["token"]), str(body["answer"]), body.get("ms"))
        except StaleAnswer:
            self._json(HTTPStatus.CONFLICT, study.state())
            return
        except (ValueError, KeyError, TypeError, AttributeError):
            self._json(
                HTTPStatus.BAD_REQUEST, {"error": 'expected {"token": ..., "answer": "real" or "refined"}'}
            )
            return
        self._json(HTTPStatus.OK, study.state())

    def _host_ok(self) -> bool:
        if self.headers.get("Host", "") in self.server.hosts:
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": "open the study at the address simgan turing printed"})
        return False

    def _json(self, status: HTTPStatus, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class TuringServer:
    """The page of ``study`` on ``http://127.0.0.1:PORT/``; bound on construction.

    Run it with :meth:`serve_forever` (until Ctrl-C) or :meth:`start` (a background thread, for tests and
    notebooks), and stop it with :meth:`close` or a ``with`` block.

    Args:
        study: the study to serve (:meth:`Study.save` it first).
        port: the port; 0 picks a free one (see :attr:`url`).

    Raises:
        InputError: the port is in use, not allowed, or out of range.
    """

    def __init__(self, study: Study, port: int = DEFAULT_PORT) -> None:
        if not 0 <= port <= 65535:
            raise InputError(f"--port {port}: must lie in 0..65535 (0 picks a free port)")
        try:
            self.httpd = _Server((HOST, port), _Handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise InputError(
                    f"--port {port}: already in use (choose another --port, or 0 for a free one)"
                ) from None
            if e.errno == errno.EACCES:
                raise InputError(
                    f"--port {port}: not allowed for this user (choose one above 1023)"
                ) from None
            raise
        self.port = int(self.httpd.server_address[1])
        self.httpd.study = study
        self.httpd.hosts = frozenset({f"{HOST}:{self.port}", f"localhost:{self.port}"})
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        """Answer requests until :meth:`close` (from another thread) or Ctrl-C (KeyboardInterrupt)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> TuringServer:
        """Serve in a daemon thread and return at once."""
        self._thread = threading.Thread(target=self.serve_forever, name="simgan-turing", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (waiting for a background thread) and free the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> TuringServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_study(
    a: str | Path | Source,
    b: str | Path | Source,
    out: str | Path,
    *,
    n: int = 50,
    seed: int = 0,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[TuringServer, Study], None] | None = None,
) -> Study:
    """Start or resume the study in ``out`` and serve it until Ctrl-C; returns the study as it stands.

    Holds ``out``'s :class:`~simgan.atomic.FolderLock` throughout (one server per study). Nothing is
    written before the port is bound, so a refused port leaves ``out`` as it was.

    Args:
        a, b: the real and the refined images (any dataset layout; same size, channels and bit depth).
        out: the study folder (``trials.json``, ``answers.jsonl``, ``metrics.json`` when complete).
        n: images shown from each set.
        seed: which images, in which order.
        port: where to listen on 127.0.0.1 (0: a free port).
        on_ready: called once the page is being served (the CLI prints the address).

    Raises:
        InputError: see :meth:`Study.open` and :class:`TuringServer`.
    """
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C is how a study stops. A process started in the background by a non-interactive shell
        # inherits SIGINT ignored (and so did one run of the test suite): take the default back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with locked_folder(out):
        study = Study.open(a, b, out, n=n, seed=seed)
        with TuringServer(study, port) as server:
            study.save()
            if on_ready is not None:
                on_ready(server, study)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return study

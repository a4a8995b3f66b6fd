"""An OTLP/HTTP receiver that takes every export and keeps only its size, so the
bench pays what a real collector costs the shop (serializing and posting batches of
spans) and nothing for storing them."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        size = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(size)
        self.server.received(size)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per export would bury the bench's own output."""


class Sink(ThreadingHTTPServer):
    """``with Sink() as sink``: listening on ``sink.endpoint`` until the block ends."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.exports = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def received(self, size: int) -> None:
        with self._lock:
            self.exports += 1
            self.bytes += size

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()
        self.server_close()

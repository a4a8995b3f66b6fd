"""A Celery worker's own metrics server: its delivery counters, for Prometheus.

A machine may run workers and no web server, and a worker's counters are in its own
processes, so each worker program serves them itself when ``EVENTS_WORKER_METRICS_PORT``
is set: a small HTTP server on a thread of the worker's main process answers ``GET
/metrics`` (any path) with the sum over its pool children's files
(``events.ops.exposition``), behind the same bearer token as the web's ``/metrics``.
The database's gauges stay on the web's ``/metrics`` (the same in every process).

Celery's signals drive it: at ``worker_init`` (main process, before the pool forks)
the program's ``PROMETHEUS_MULTIPROC_DIR`` is emptied; at ``worker_ready`` the server
starts; a pool child that exits is marked dead; at ``worker_shutdown`` the server stops.
A prefork worker needs the directory (its children count, the main process serves):
without it the server is not started, and the worker says so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import (
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from prometheus_client import CONTENT_TYPE_LATEST

from ..ops.exposition import authorized, counters_text
from ..ops.multiproc import MULTIPROC_DIR, clear_multiproc_dir, process_exited

logger = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def metrics_app(
    environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """The WSGI application: the counters, or 401 without the scraper's token."""
    if not authorized(
        environ.get("HTTP_AUTHORIZATION", ""), settings.EVENTS_METRICS_TOKEN
    ):
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"metrics need the scraper's bearer token\n"]
    body = counters_text()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are no news for the worker's log."""


_server: _Server | None = None


def serve(port: int) -> _Server:
    """Start the server on ``port`` (all interfaces), on a daemon thread."""
    server = make_server(
        "0.0.0.0", port, metrics_app, server_class=_Server, handler_class=_QuietHandler
    )
    threading.Thread(
        target=server.serve_forever, name="metrics-server", daemon=True
    ).start()
    return server


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    clear_multiproc_dir()


@worker_ready.connect
def _on_worker_ready(sender: object, **_: object) -> None:
    global _server
    port = settings.EVENTS_WORKER_METRICS_PORT
    if not port or _server is not None:
        return
    if isinstance(getattr(sender, "pool", None), PreforkPool) and not os.environ.get(
        MULTIPROC_DIR
    ):
        logger.error(
            "not serving metrics on port %s: a prefork worker counts in its children, "
            "set %s to a directory of this worker's own",
            port,
            MULTIPROC_DIR,
        )
        return
    try:
        _server = serve(port)
    except OSError as error:  # the port taken: the worker works on, unscraped
        logger.error("not serving metrics on port %s: %s", port, error)
        return
    logger.info("serving metrics on port %s", port)


@worker_process_shutdown.connect
def _on_child_exit(pid: int | None = None, **_: object) -> None:
    process_exited(pid or os.getpid())


@worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None

"""Log lines through structlog: JSON lines in production, readable lines in the
console of ``make run``, the same fields either way.

Every line, from structlog or from the standard library's ``logging`` (Django,
Celery, the platform's own loggers), is rendered by one formatter (structlog's
``ProcessorFormatter``) on the root logger's one handler, so nothing is printed twice
and no line escapes the format. Each line carries the context bound with
``structlog.contextvars`` where it was written: the request's ``correlation_id``
(``shop.api.middleware``), a delivered message's correlation and causation ids,
message id, subscription, partition and offset (``events.telemetry.logs``), and
``trace_id`` and ``span_id`` when a span is current (tracing on). A traceback is the
``exception`` field of its line's JSON, never lines of its own.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]


def add_trace_ids(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The current span's trace and span ids, as hex (as trace backends show them)."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event["trace_id"] = format(span.trace_id, "032x")
        event["span_id"] = format(span.span_id, "016x")
    return event


# Applied to structlog's own lines and to the standard library's alike.
SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,
]


def renderers(log_format: LogFormat) -> list[Processor]:
    """What turns a line's fields into text, last in the formatter's chain."""
    if log_format == "json":
        return [
            structlog.processors.format_exc_info,  # the traceback: one field
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    return [
        structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.plain_traceback,  # no locals shown
        )
    ]


def logging_config(*, log_format: LogFormat, level: str) -> dict[str, Any]:
    """``LOGGING`` for Django's dictConfig: the root logger's one console handler,
    rendering through structlog; Django's own logger keeps only its mail to ADMINS
    and reaches the console through the root (see the settings)."""
    if log_format not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be json or console, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}
        },
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *renderers(log_format),
                ],
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structlog"},
            "mail_admins": {
                "level": "ERROR",
                "filters": ["require_debug_false"],
                "class": "django.utils.log.AdminEmailHandler",
            },
        },
        "loggers": {
            "django": {"handlers": ["mail_admins"], "level": "INFO"},
            # django-axes says "AXES: BEGIN version ..." at every start, each manage.py
            # command's included; its lockouts are warnings and still go through.
            "axes": {"level": "WARNING"},
        },
        "root": {"handlers": ["console"], "level": level},
    }


def configure_structlog() -> None:
    """structlog's own loggers (``structlog.get_logger()``) hand their lines to the
    standard library's, so they meet the same handler and formatter."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

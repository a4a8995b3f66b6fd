"""The verbs of ``manage.py events``, one module each: ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(options, command)``. A verb reports on
``command.stdout`` and fails with CommandError (a clear message, a non-zero exit)."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from events.delivery.subscriptions import Subscription, UnknownSubscription, registry


def time_arg(text: str) -> datetime:
    """An ISO 8601 time (naive means the server's time zone)."""
    value = parse_datetime(text)
    if value is None:
        raise ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-11-28T14:00Z)"
        )
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def count_arg(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def subscription_named(name: str) -> Subscription:
    try:
        return registry.get(name)
    except UnknownSubscription as error:
        raise CommandError(str(error)) from None

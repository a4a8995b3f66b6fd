"""Calling handlers: decoding, contexts, batch grouping and failure attribution."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..log.context import handling
from ..log.pending import PendingMessage
from ..messages import Envelope
from ..telemetry.delivery import delivering
from .counting import timed
from .subscriptions import Context, Delivery, Handler, Subscription


class HandlerFailed(Exception):
    """A handler (or the decoding of its message) raised; ``envelopes`` is the group it
    was given (one message, or a run for a batch handler)."""

    def __init__(self, envelopes: Sequence[Envelope], error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.envelopes = list(envelopes)
        self.error = error


def run_local(
    subscription: Subscription, envelopes: Sequence[Envelope], *, singles: bool = False
) -> list[PendingMessage]:
    """Run the handlers of ``envelopes`` in order, in the caller's transaction, and
    return what they published. ``singles`` gives batch handlers one message at a time
    (to find which message of a failed batch is the bad one)."""
    published: list[PendingMessage] = []
    index = 0
    while index < len(envelopes):
        handler = subscription.handler_for(envelopes[index].type)
        if handler is None:
            index += 1
            continue
        end = index + 1
        if handler.batch and not singles:  # a run of messages for the same function
            while end < len(envelopes) and _same_fn(
                subscription, envelopes[end], handler
            ):
                end += 1
        group = envelopes[index:end]
        contexts = [Context(subscription.name, e) for e in group]
        try:
            with (
                handling(group[0].correlation_id, group[0].message_id),
                delivering(subscription.name, group),
            ):
                _call(subscription, handler, group, contexts)
        except Exception as error:
            raise HandlerFailed(group, error) from error
        for context in contexts:
            published.extend(context.published)
        index = end
    return published


def local_effects(
    subscription: Subscription, *, singles: bool = False
) -> Callable[[list[Envelope]], list[PendingMessage]]:
    """The effects of handlers that run in the recording transaction."""
    return lambda fresh: run_local(subscription, fresh, singles=singles)


def _call(
    subscription: Subscription,
    handler: Handler,
    group: Sequence[Envelope],
    contexts: list[Context],
) -> None:
    if handler.batch:
        deliveries = [
            Delivery(e.message(), c) for e, c in zip(group, contexts, strict=True)
        ]
        with timed(subscription.name):
            handler.fn(deliveries)
    else:
        message = group[0].message()
        with timed(subscription.name):
            handler.fn(message, contexts[0])


def run_outside(subscription: Subscription, envelope: Envelope) -> Context:
    """Run an outside handler (no transaction may be open); returns its context, whose
    publications the caller records in a short transaction afterwards."""
    handler = subscription.handler_for(envelope.type)
    if handler is None or not handler.outside:
        raise TypeError(
            f"{subscription.name} has no outside handler of {envelope.type}"
        )
    context = Context(subscription.name, envelope)
    try:
        with (
            handling(envelope.correlation_id, envelope.message_id),
            delivering(subscription.name, [envelope]),
        ):
            _call(subscription, handler, [envelope], [context])
    except Exception as error:
        raise HandlerFailed([envelope], error) from error
    return context


def is_outside(subscription: Subscription, envelope: Envelope) -> bool:
    handler = subscription.handler_for(envelope.type)
    return handler is not None and handler.outside


def _same_fn(subscription: Subscription, envelope: Envelope, handler: Handler) -> bool:
    other = subscription.handler_for(envelope.type)
    return other is not None and other.batch and other.fn is handler.fn

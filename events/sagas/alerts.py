"""Critical alerts: a saga that needs a person. Mail to ADMINS and a critical log line,
sent by an outside handler (no transaction open; a failing mail server is retried and
then dead-lettered like any delivery, and never blocks the saga's own progress)."""

import logging

from django.core.mail import mail_admins

from ..delivery.subscriptions import Context, Subscription
from .transitions import SagaNeedsIntervention

logger = logging.getLogger("events.alerts")

alerts = Subscription("events.alerts", topics=("sagas",))


@alerts.on(SagaNeedsIntervention, outside=True)
def on_saga_needs_intervention(event: SagaNeedsIntervention, ctx: Context) -> None:
    subject = f"saga {event.saga} {event.key} needs intervention"
    logger.critical(
        "%s: %s (correlation %s)", subject, event.reason, ctx.correlation_id
    )
    mail_admins(
        subject,
        f"{event.reason}\n\nstep: {event.step}\ncorrelation id: {ctx.correlation_id}\n"
        "Inspect it in the admin (Event platform, saga instances).",
    )

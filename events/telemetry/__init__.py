"""The telemetry wing: what a message carries of the trace it was published in, the
span of its delivery, and the fields every log line of a delivery carries.

Owns: ``tracing`` (the W3C trace context recorded in a message's headers when it is
published, and the CONSUMER span of its delivery, with OpenTelemetry's API) and
``logs`` (the delivery's fields bound for structlog: correlation and causation, the
message, the subscription, partition and offset) and ``delivery`` (both entered
together where the handlers run).

May import: ``events.messages`` and the OpenTelemetry API and structlog. Nothing
else of the platform: the log (publishing) and delivery (handling) call it. Without
an SDK set up in the process (``shop.telemetry``), OpenTelemetry's API records
nothing and the wing costs one check per message.
"""

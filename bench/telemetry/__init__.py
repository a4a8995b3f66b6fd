"""What tracing and metrics cost delivery: ``python -m bench.telemetry``."""

"""The event platform: messages, the log (outbox), subscriptions, dispatchers, the
inbox, retries and dead letters. It knows nothing about shops; apps register with it
from their ``AppConfig.ready()``."""

"""Message types for the tests that run a real Celery worker (wire names ``w.*``).

Their own topic, ``w.jobs``, so the subscriptions in ``tests.effects.subscriptions``
(registered in every test run) never see another test's messages."""

from events.messages import Command, message


@message("w.RunJob", topic="w.jobs", key="key")
class RunJob(Command):
    """A job whose handling the test steers through the payload.

    ``sleep_ms`` makes the handler slow (a batch stays in flight long enough to kill
    the worker in the middle of it); ``fail_times`` makes the first attempts fail
    (``-1``: every attempt, a poison message)."""

    key: str
    n: int = 0
    sleep_ms: int = 0
    fail_times: int = 0

"""What mypy's Django plugin loads (pyproject.toml, [tool.django-stubs]): the test
settings plus the benchmark's app and its setting, so that every model and setting
the code reads, bench/ included, is typed."""

from bench.settings import BENCH_SCALE_CALL_MS  # noqa: F401

from .test import *  # noqa: F403
from .test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.app"]

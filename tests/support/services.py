"""A service or tool a test needs and does not find: skipped, except when
``SHOP_REQUIRE_SERVICES=1`` (set by ``.ci/run``), which makes it a failure, so a run
that was meant to exercise the service cannot pass without it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    # The variable is read at each call, not at import, so a test can set it.
    if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and SHOP_REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(reason)

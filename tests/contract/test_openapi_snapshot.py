"""The OpenAPI document the API serves is the committed one, ``docs/openapi.json``:
a contract change shows up in review as a diff of that file (``make openapi``)."""

import pytest

from .snapshot import SNAPSHOT, diff, live_schema, stored


def test_served_openapi_document_is_the_committed_snapshot():
    # given
    committed = stored()
    assert committed is not None, f"{SNAPSHOT} is missing: run `make openapi`"
    # when
    served = live_schema()
    # then (only the unified diff is printed: pytest's own dict diff would bury it)
    if served != committed:
        pytest.fail(
            "the served OpenAPI document differs from the committed snapshot; if the "
            "change is intended, run `make openapi` and commit docs/openapi.json:\n"
            + diff(committed, served),
            pytrace=False,
        )

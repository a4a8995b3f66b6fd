"""Which partition a key's messages go to."""

from __future__ import annotations

import zlib

from django.conf import settings


def partition_for(key: str, partitions: int | None = None) -> int:
    """The partition of a key: a stable hash (crc32, not Python's salted ``hash``)."""
    count = partitions or settings.EVENTS_PARTITIONS
    return zlib.crc32(key.encode()) % count

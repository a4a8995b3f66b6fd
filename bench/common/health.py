"""Whether a shop served on this machine answers ``GET /health/live``."""

from __future__ import annotations

import http.client


def live(port: int) -> bool:
    """``/health/live`` answers 200 on ``127.0.0.1:port``, asked as the TLS proxy in
    front of production asks (``X-Forwarded-Proto: https``: no redirect)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health/live", headers={"X-Forwarded-Proto": "https"})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()

"""The REST API bench (``python -m bench.api``, ``make bench-api``): ``run`` (the
entry), ``server`` (gunicorn), ``load`` (the closed-loop generator), ``report``,
``write`` and ``urls`` (the bench-only minimal write), ``settings``, and ``profile``
(``python -m bench.api.profile``: the queries behind one request)."""

"""Settings of ``make bench-api``'s gunicorn: production's, plus one bench-only URL.

Everything is ``shop.settings.production`` (read from the environment the bench gives
it), with two additions that exist only here and never in the shop:

* ``ROOT_URLCONF = "bench.api.urls"``: the shop's URLs and ``POST
  /api/bench/write``, the minimal authenticated write the order path is compared
  with (``bench.api.write``);
* ``bench.app`` installed, for the table that write inserts into (``bench_row``, the
  same row the delivery benchmarks' INSERT baselines write). Its subscriptions read
  only ``bench.*`` topics, which nothing publishes to during the API bench.
"""

from shop.settings.production import *  # noqa: F403
from shop.settings.production import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.app"]
ROOT_URLCONF = "bench.api.urls"

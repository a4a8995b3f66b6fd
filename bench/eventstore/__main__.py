"""``python -m bench.eventstore``: the event-store scenario of ``python -m bench``
alone (``--only eventstore``: with the baselines its figures are divided by), with
the same flags."""

import sys

from bench.__main__ import main

sys.exit(main(["--only", "eventstore", *sys.argv[1:]]))

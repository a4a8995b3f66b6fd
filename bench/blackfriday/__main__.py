"""``python -m bench.blackfriday``: see ``bench.blackfriday.run``."""

import sys

from bench.blackfriday.run import main

sys.exit(main())

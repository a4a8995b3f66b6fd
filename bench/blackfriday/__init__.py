"""The Black Friday bench (``python -m bench.blackfriday``, ``make bench-blackfriday``):
``run`` (the entry and its phases), ``workers`` (its broker DB and the two production
workers), ``shop`` (seeding, the schedule), ``load`` (the placers), ``figures``,
``hops``, ``report`` and ``settings``."""

"""The scale-out bench (``python -m bench.scale``, ``make bench-scale``): ``run`` (the
rows of workers and partitions), ``cost`` (the CPU cost of one message), ``writers``
(the head lock), ``repartition`` (a live raise under load) and ``settings``."""

"""Loyalty: points for confirmed orders, taken back when an order is called off.

A new service that only subscribes: it reads the ``orders`` and ``payments`` topics and
keeps its own tables; orders knows nothing about it."""

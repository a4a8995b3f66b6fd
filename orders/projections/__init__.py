"""Orders' read models, each a projection fed by its own subscription (imported from
``OrdersConfig.ready()`` so each registers once): ``directory`` keeps what orders
know of other apps (stock, customers); ``summary`` the orders themselves."""

from . import directory, summary

__all__ = ["directory", "summary"]

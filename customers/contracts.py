"""The public contract of customers: the messages it publishes.

The only module of this app that another app may import."""

from uuid import UUID

from events.messages import Event, message


@message("customers.CustomerRegistered", topic="customers", key="customer_id")
class CustomerRegistered(Event):
    customer_id: UUID
    email: str
    name: str


@message("customers.CustomerUpdated", topic="customers", key="customer_id")
class CustomerUpdated(Event):
    """A customer's details or standing changed (e.g. staff deactivated them)."""

    customer_id: UUID
    email: str
    name: str
    is_active: bool

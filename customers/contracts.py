"""The public contract of customers: the messages it publishes and the commands it
accepts.

The only module of this app that another app may import. ``RegisterCustomer`` and
``UpdateCustomer`` are executed in-process (``events.bus``: the API, the CLI, the
admin); they carry a password or staff's edits and are never published, so they have
no wire name."""

from uuid import UUID

from pydantic import SecretStr

from events import Command, Event, message


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


class RegisterCustomer(Command):
    """Create the customer with this email unless one exists (announced by
    CustomerRegistered)."""

    email: str
    name: str
    password: SecretStr


class UpdateCustomer(Command):
    """Staff changed a customer's details or standing (announced by CustomerUpdated)."""

    customer_id: UUID
    email: str
    name: str
    is_active: bool

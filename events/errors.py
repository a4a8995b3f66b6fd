"""The base of rule violations, shared so that entrypoints map them in one place."""


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded. The API maps every
    subclass to problem+json in one place, the CLI to a clear message."""

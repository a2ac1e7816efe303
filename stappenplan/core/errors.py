"""Errors raised by services, shown to the user next to a field or as a flash."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused action with a Dutch message; ``field`` names the form field, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def attach(form: object, error: ServiceError) -> bool:
    """Put a ServiceError on its form field; True when it was attached to one."""
    if error.field and hasattr(form, error.field):
        getattr(form, error.field).errors = [*getattr(form, error.field).errors, error.message]
        return True
    return False

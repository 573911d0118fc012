"""The ticket store's exceptions, in one module so the catalog and the service can share them.

``ticketing.service`` re-exports them; callers should import from there.
"""

from __future__ import annotations


class TicketError(Exception):
    """A request the ticket store refuses; the message is clear English for staff and the CLI."""


class InvalidTransition(TicketError):
    """The requested status change is not allowed from the ticket's current status."""


class TicketNotFound(TicketError):
    """No ticket has that folio (or the text is not a well-formed folio)."""


class UnknownCategory(TicketError):
    """The category code is not in the catalog."""


class UnknownReason(TicketError):
    """The reason code is not in the catalog, or not allowed for that status."""

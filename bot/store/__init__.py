"""The store: the only code that writes SQL (one repository per concern, on one connection)."""

from bot.store.core import Clock, DatabaseGone, Event
from bot.store.leads import Lead, LeadMagnet
from bot.store.sessions import Session
from bot.store.store import Store, open_store

__all__ = ["Clock", "DatabaseGone", "Event", "Lead", "LeadMagnet", "Session", "Store", "open_store"]

"""What meetings publishes and consumes."""

from services.meetings.models import divisions
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.divisions import replica_handler

HANDLERS = {DIVISIONS_CHANGED: replica_handler(divisions)}

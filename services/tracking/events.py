"""What tracking publishes."""

from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.divisions import Division, change_batches
from shared.uow import UnitOfWork


def divisions_changed(uow: UnitOfWork, changed: list[Division]) -> None:
    """Replicate a registry change to every service, in parts small enough for one message each."""
    for payload in change_batches(changed):
        uow.emit(DIVISIONS_CHANGED, payload, division_code=None)

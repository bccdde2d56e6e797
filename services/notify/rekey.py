"""The phone key's rotation (``xieshang contacts rekey``): every stored ciphertext of a number moved
to the current ``XIESHANG_NOTIFY_PHONE_KEY`` and every look-up hash recomputed, while the services
run with ``XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS`` set (``phones.PhoneVault`` reads and matches under
both meanwhile).

Batches of ``batch`` rows, each its own transaction (``services.rekey_contacts``, then
``services.rekey_answers``): a crash loses at most the batch under way, and a rerun walks again from
the start, skipping the rows already under the current key, so it completes what was left and
changes nothing twice. Only counts come out; never a number.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from services.notify import services
from services.notify.phones import PhoneVault
from shared.uow import UnitOfWork

STEPS = (services.rekey_contacts, services.rekey_answers)


def rekey(
    unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]],
    vault: PhoneVault,
    *,
    batch: int = 500,
    max_batches: int | None = None,
) -> tuple[services.Rekeyed, bool]:
    """Rotate; returns what changed and whether every row was reached (False: ``max_batches``
    committed before the end; run again to go on)."""
    total, batches = services.Rekeyed(), 0
    for step in STEPS:
        after: str | None = ""
        while after is not None:
            if max_batches is not None and batches >= max_batches:
                return total, False
            with unit_of_work() as uow:
                after, done = step(uow, vault, after=after, batch=batch)
            total.add(done)
            batches += 1
    return total, True

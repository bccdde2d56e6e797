"""Notify's contact directory adapter (HTTP, thin: parse, one use case of ``services.py``,
serialise): residents, department contacts and operators, their numbers (encrypted at rest, shown
masked), channels, quiet hours and opt-outs.

Workers, street, district and city admins manage the contacts of the communities in their scope;
a resident sees and changes only their own (``/me``, by the account subject). Removing a contact
erases its number at once (``repository.remove``: only the keyed hash and the opt-outs are kept).
Who is in the directory is told to meetings by ids (``notify.contacts.changed``: whom an invitation
may name), never by number or name.

The import takes a CSV file as every import route does (``shared.uploads``: a ``text/csv`` body, a
multipart field ``file``, or a JSON body ``{"csv": "..."}``; 415 for another media type) with the
header ``phone,community_code,kind,app_user_id,department_id,channels,quiet_start,quiet_end`` (the
last five may be left out or empty; channels separated by ``;`` or ``|``). Good rows are kept, bad
ones reported with their line numbers and Chinese reasons; a number already in the community
updates that contact. 200 when a row was kept, 422 when none was, 403 when every row names a
community outside the caller's scope.
"""

from __future__ import annotations

from services.notify import domain, services
from services.notify.phones import vault_for
from services.notify.schemas import (
    ContactIn,
    ContactOut,
    ContactPage,
    ContactQuery,
    ImportOut,
    PreferencesIn,
    import_rows,
)
from shared.http import Blueprint, current_principal, requires
from shared.service import current_runtime
from shared.uploads import CSV_BODY, csv_text

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/notify/contacts", description="通知联系人名录")


def _vault():
    return vault_for(current_runtime().settings)


@blp.post("")
@blp.arguments(ContactIn)
@blp.response(201, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def create_contact(data):
    """Add a resident or department contact to a community of the caller's scope."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.create_contact(uow, current_principal(), _vault(), data, now=runtime.now())


@blp.get("")
@blp.arguments(ContactQuery, location="query")
@blp.response(200, ContactPage)
@requires(*domain.CONTACT_MANAGERS)
def list_contacts(query):
    """Contacts of the caller's scope, newest first, one page at a time (``next_cursor``)."""
    with current_runtime().unit_of_work() as uow:
        return services.list_contacts(uow, current_principal(), _vault(), **query)


@blp.get("/me")
@blp.response(200, ContactOut)
@requires("resident")
def get_mine():
    """The caller's own contact (by their account)."""
    with current_runtime().unit_of_work() as uow:
        return services.get_mine(uow, current_principal(), _vault())


@blp.patch("/me")
@blp.arguments(PreferencesIn)
@blp.response(200, ContactOut)
@requires("resident")
def patch_mine(data):
    """Change one's own channels, quiet hours and opt-outs."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.change_mine(uow, current_principal(), _vault(), data, now=runtime.now())


@blp.get("/<contact_id>")
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def get_contact(contact_id: str):
    """One contact of the caller's scope."""
    with current_runtime().unit_of_work() as uow:
        return services.get_contact(uow, current_principal(), _vault(), contact_id)


@blp.patch("/<contact_id>")
@blp.arguments(PreferencesIn)
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def patch_contact(data, contact_id: str):
    """Change a contact's channels, quiet hours and opt-outs."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.change_contact(uow, current_principal(), _vault(), contact_id, data, now=runtime.now())


@blp.delete("/<contact_id>")
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def remove_contact(contact_id: str):
    """Remove a contact: its number is erased now; only its hash and opt-outs are kept."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.remove_contact(uow, current_principal(), contact_id, now=runtime.now())


# -- import ----------------------------------------------------------------------------------------------


@blp.post("/import")
@blp.response(200, ImportOut)
@blp.alt_response(422, description="No row was kept")
@blp.doc(requestBody=CSV_BODY)
@requires(*domain.CONTACT_MANAGERS)
def import_contacts():
    """Import contacts from CSV: good rows kept, bad ones reported by line number."""
    rows = import_rows(csv_text())
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.import_contacts(uow, current_principal(), _vault(), rows, now=runtime.now())

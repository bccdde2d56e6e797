"""Notify's contact directory: residents and department contacts, their numbers (encrypted at rest,
shown masked), channels, quiet hours and opt-outs.

Workers, street, district and city admins manage the contacts of the communities in their scope;
a resident sees and changes only their own (``/me``, by the account subject). Removing a contact
erases its number at once (``repository.remove``: only the keyed hash and the opt-outs are kept).

The import takes a CSV file (``text/csv`` body, a multipart field ``file``, or a JSON body
``{"csv": "..."}``) with the header ``phone,community_code,kind,app_user_id,department_id,channels,
quiet_start,quiet_end`` (the last five may be left out or empty; channels separated by ``;`` or
``|``). Good rows are kept, bad ones reported with their line numbers and Chinese reasons; a number
already in the community updates that contact. 200 when a row was kept, 422 when none was, 403 when
every row names a community outside the caller's scope.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from flask import request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from services.notify import domain, repository
from services.notify.models import divisions
from services.notify.phones import mask, vault_for
from services.notify.schemas import ContactIn, ContactOut, ContactPage, ContactQuery, ImportOut, PreferencesIn
from shared.division_registry import DivisionRegistry
from shared.http import current_principal, requires
from shared.principal import Principal
from shared.problems import BadRequest, Conflict, Forbidden, Invalid, NotFound, Problem
from shared.service import current_runtime

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/notify/contacts", description="通知联系人名录")
MAX_IMPORT_ROWS = 5000
COLUMNS = ("phone", "community_code", "kind", "app_user_id", "department_id", "channels", "quiet_start", "quiet_end")
REQUIRED_COLUMNS = ("phone", "community_code", "kind")


class UnsupportedMediaType(Problem):
    status = 415


DUPLICATE = "该社区已有此手机号的联系人"
APP_USER_TAKEN = "该应用用户已有联系人"


def _now() -> datetime:
    return datetime.now(UTC)


def _vault():
    return vault_for(current_runtime().settings)


def _out(contact: domain.Contact, cipher: bytes | None) -> dict:
    phone = _vault().decrypt(cipher, contact.id) if cipher else None
    return {
        **vars(contact),
        "phone": mask(phone),
        "channels": list(contact.channels),
        "opt_outs": list(contact.opt_outs),
        "quiet_timezone": "Asia/Shanghai",
    }


def _visible(principal: Principal, found):
    if found is None or not principal.covers(found[0].community_code):
        raise NotFound("联系人不存在或不在您的范围内")
    return found


def _check_community(session, principal: Principal, code: str) -> None:
    principal.require_scope(code)
    if DivisionRegistry(session, divisions).active_community(code) is None:
        raise Invalid("社区不存在或已撤销", field="community_code")


def _create(session, data: dict, now: datetime) -> domain.Contact:
    """Check and store one new contact (the caller's scope already checked); raises Problems."""
    errors = domain.contact_errors(data["kind"], data.get("department_id"))
    if errors:
        raise Invalid(errors[0], field="department_id")
    vault = _vault()
    digest = vault.digest(data["phone"])
    if repository.by_phone(session, data["community_code"], digest) is not None:
        raise Conflict(DUPLICATE, field="phone")
    if repository.app_user_taken(session, data.get("app_user_id")):
        raise Conflict(APP_USER_TAKEN, field="app_user_id")
    contact = domain.new_contact(
        kind=data["kind"],
        community_code=data["community_code"],
        department_id=data.get("department_id"),
        app_user_id=data.get("app_user_id"),
        channels=data.get("channels"),
        quiet_start=data.get("quiet_start"),
        quiet_end=data.get("quiet_end"),
        opt_outs=data.get("opt_outs"),
        remembered_opt_outs=repository.remembered_opt_outs(session, data["community_code"], digest),
        now=now,
    )
    repository.add(session, vault, contact, data["phone"])
    return contact


def _integrity(exc: IntegrityError) -> Conflict:
    text = str(exc.orig)
    if "app_user" in text:
        return Conflict(APP_USER_TAKEN, field="app_user_id")
    return Conflict(DUPLICATE, field="phone")


@blp.post("")
@blp.arguments(ContactIn)
@blp.response(201, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def create_contact(data):
    """Add a resident or department contact to a community of the caller's scope."""
    principal = current_principal()
    try:
        with current_runtime().db.transaction() as session:
            _check_community(session, principal, data["community_code"])
            contact = _create(session, data, _now())
            cipher = repository.get(session, contact.id)[1]
    except IntegrityError as exc:  # a concurrent insert of the same number or app user
        raise _integrity(exc) from None
    return _out(contact, cipher)


@blp.get("")
@blp.arguments(ContactQuery, location="query")
@blp.response(200, ContactPage)
@requires(*domain.CONTACT_MANAGERS)
def list_contacts(query):
    """Contacts of the caller's scope, newest first, one page at a time (``next_cursor``)."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        items, next_cursor = repository.search(session, scope=principal.scope, **query)
    return {"items": [_out(*item) for item in items], "next_cursor": next_cursor}


@blp.get("/me")
@blp.response(200, ContactOut)
@requires("resident")
def get_mine():
    """The caller's own contact (by their account)."""
    with current_runtime().db.sessions() as session:
        found = repository.by_app_user(session, current_principal().subject)
    if found is None:
        raise NotFound("您还没有登记联系方式")
    return _out(*found)


@blp.patch("/me")
@blp.arguments(PreferencesIn)
@blp.response(200, ContactOut)
@requires("resident")
def patch_mine(data):
    """Change one's own channels, quiet hours and opt-outs."""
    _require_changes(data)
    with current_runtime().db.transaction() as session:
        found = repository.by_app_user(session, current_principal().subject)
        if found is None:
            raise NotFound("您还没有登记联系方式")
        contact = domain.change_preferences(found[0], data, _now())
        repository.save(session, contact)
    return _out(contact, found[1])


@blp.get("/<contact_id>")
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def get_contact(contact_id: str):
    """One contact of the caller's scope."""
    with current_runtime().db.sessions() as session:
        return _out(*_visible(current_principal(), repository.get(session, contact_id)))


def _require_changes(data: dict) -> None:
    if not data:
        raise Invalid("没有要修改的内容")


@blp.patch("/<contact_id>")
@blp.arguments(PreferencesIn)
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def patch_contact(data, contact_id: str):
    """Change a contact's channels, quiet hours and opt-outs."""
    _require_changes(data)
    with current_runtime().db.transaction() as session:
        contact, cipher = _visible(current_principal(), repository.get(session, contact_id))
        contact = domain.change_preferences(contact, data, _now())
        repository.save(session, contact)
    return _out(contact, cipher)


@blp.delete("/<contact_id>")
@blp.response(200, ContactOut)
@requires(*domain.CONTACT_MANAGERS)
def remove_contact(contact_id: str):
    """Remove a contact: its number is erased now; only its hash and opt-outs are kept."""
    now = _now()
    with current_runtime().db.transaction() as session:
        contact, _ = _visible(current_principal(), repository.get(session, contact_id))
        repository.remove(session, contact.id, now)
    return _out(domain.Contact(**{**vars(contact), "updated_at": now, "removed_at": now}), None)


# -- import ----------------------------------------------------------------------------------------------


def _upload() -> str:
    """The CSV text of the request (text/csv body, multipart ``file`` or JSON ``{"csv": ...}``)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("请在表单字段file中上传CSV文件", field="file")
        raw = upload.read()
    elif request.mimetype in ("text/csv", "text/plain", "application/csv"):
        raw = request.get_data()
    elif request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("csv"), str):
            raise BadRequest('JSON请求须为{"csv": "CSV文本"}', field="csv")
        return body["csv"]
    else:
        raise UnsupportedMediaType("请以text/csv正文或multipart表单字段file上传CSV文件")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("CSV文件须为UTF-8编码") from None


def _row_data(row: dict) -> dict:
    """A CSV row as ContactIn input: empty cells left out, channels split."""
    data = {}
    for column in COLUMNS:
        value = (row.get(column) or "").strip()
        if not value:
            continue
        data[column] = [v for v in re.split(r"[;|,\s]+", value) if v] if column == "channels" else value
    return data


def _messages(errors: dict) -> list[str]:
    names = {
        "phone": "手机号",
        "community_code": "社区代码",
        "kind": "类型",
        "app_user_id": "应用用户",
        "department_id": "部门",
        "channels": "渠道",
        "quiet_start": "免打扰开始",
        "quiet_end": "免打扰结束",
    }
    out = []
    for field, messages in errors.items():
        if isinstance(messages, dict):  # list items: {index: [messages]}
            messages = [m for item in messages.values() for m in item]
        for message in messages:
            out.append(f"{names.get(field, field)}:{message}")
    return out


@blp.post("/import")
@blp.response(200, ImportOut)
@blp.alt_response(422, description="No row was kept")
@blp.doc(
    requestBody={
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        }
    }
)
@requires(*domain.CONTACT_MANAGERS)
def import_contacts():
    """Import contacts from CSV: good rows kept, bad ones reported by line number."""
    principal = current_principal()
    text = _upload()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise Invalid(f"CSV缺少列:{'、'.join(missing)}", columns=list(COLUMNS))
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise Invalid(f"CSV含未知列:{'、'.join(unknown)}", columns=list(COLUMNS))
    reader.fieldnames = header
    schema, vault, now = ContactIn(), _vault(), _now()
    imported, updated, rejected, outside, seen = 0, 0, [], 0, {}
    rows = 0
    with current_runtime().db.transaction() as session:
        for row in reader:
            line = reader.line_num
            rows += 1
            if rows > MAX_IMPORT_ROWS:
                raise Invalid(f"一次最多导入{MAX_IMPORT_ROWS}行")
            if None in row:
                rejected.append({"line": line, "errors": ["列数多于表头"]})
                continue
            try:
                data = schema.load(_row_data(row))
            except ValidationError as exc:
                rejected.append({"line": line, "errors": _messages(exc.messages)})
                continue
            if not principal.covers(data["community_code"]):
                outside += 1
                rejected.append({"line": line, "errors": ["社区代码:该社区不在您的管辖范围内"]})
                continue
            errors = domain.contact_errors(data["kind"], data.get("department_id"))
            if DivisionRegistry(session, divisions).active_community(data["community_code"]) is None:
                errors.append("社区代码:社区不存在或已撤销")
            key = (data["community_code"], vault.digest(data["phone"]))
            if key in seen:
                errors.append(f"与第{seen[key]}行的手机号重复")
            if errors:
                rejected.append({"line": line, "errors": errors})
                continue
            existing = repository.by_phone(session, *key)
            if repository.app_user_taken(session, data.get("app_user_id"), existing.id if existing else None):
                rejected.append({"line": line, "errors": [f"应用用户:{APP_USER_TAKEN}"]})
                continue
            seen[key] = line
            if existing is None:
                _create(session, data, now)
                imported += 1
            else:
                changes = {k: data[k] for k in ("channels", "quiet_start", "quiet_end", "app_user_id") if k in data}
                if existing.kind != data["kind"]:
                    rejected.append({"line": line, "errors": ["类型:与已有联系人的类型不同"]})
                    continue
                if "department_id" in data:
                    changes["department_id"] = data["department_id"]
                repository.save(session, domain.change_preferences(existing, changes, now))
                updated += 1
        if rows == 0:
            raise Invalid("CSV文件没有数据行")
        if imported + updated == 0:
            if outside == rows:
                raise Forbidden("CSV中的社区均不在您的管辖范围内")
            raise Invalid("没有可导入的行", imported=0, updated=0, rejected=rejected)
    return {"imported": imported, "updated": updated, "rejected": rejected}

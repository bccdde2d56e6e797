"""The fuzzing harness: schemathesis cases for every operation of an OpenAPI document, sent to the
gateway in this process with a token of a role the operation admits, and five verdicts on each
answer:

- **5xx**: a server error (or an exception out of the gateway);
- **schema**: the answer breaks its operation's documented responses (status, media type, body,
  headers);
- **invalid accepted**: data the document calls invalid (schemathesis' negative mode) answered 2xx;
- **no problem**: an error (4xx/5xx) that is not the documented error format: ``application/
  problem+json`` with ``type``, ``title`` and ``status`` on the platform's API, GeoReport's
  ``[{"code", "description"}]`` on Open311;
- **write on 4xx**: a refused request that committed a write to any database (``WriteWatch``).

Per operation and generation mode (positive, negative) a profile's number of cases: the role drawn
from those the operation admits (anonymous for a public one), the path parameters either generated
or naming a resource of ``tests.fuzz.world``. Failures are recorded, not raised, so one run lists
every distinct one (``Tally.findings``) with a curl command to reproduce it and, for a server error,
where the logged traceback ends in the project's code.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import event

from shared.http import allowed_roles
from shared.principal import ROLES
from shared.problems import PROBLEM_JSON

ROOT = Path(__file__).resolve().parents[2]
ANONYMOUS = "anonymous"
API_KEY = "api_key"  # Open311's way in for a hotline: ``api_key`` as a query parameter
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
KINDS = ("5xx", "schema", "invalid accepted", "no problem", "write on 4xx")
# Writes a refusal makes by design: (operation, database.table) -> why.
WRITES_ON_REFUSAL = {
    ("POST /api/v1/auth/token", "gateway.login_throttle"): "a refused login counts towards the lock-out",
    ("POST /api/v1/auth/session", "gateway.login_throttle"): "a refused login counts towards the lock-out",
}
SCHEMA_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Profile:
    name: str
    cases: int  # per operation and generation mode
    derandomize: bool  # the same cases every run (``make test``), or new ones (``make test-fuzz``)


PROFILES = {"short": Profile("short", 6, True), "full": Profile("full", 100, False)}


def current_profile() -> Profile:
    """``XIESHANG_FUZZ_PROFILE``: ``short`` (the default, inside ``make test``) or ``full``."""
    name = os.environ.get("XIESHANG_FUZZ_PROFILE", "short")
    if name not in PROFILES:
        raise ValueError(f"XIESHANG_FUZZ_PROFILE must be one of {', '.join(PROFILES)}, not {name!r}")
    return PROFILES[name]


def fuzz_seed(profile: Profile) -> int | None:
    """The seed of a run that is not derandomized: ``XIESHANG_FUZZ_SEED`` repeats a run's cases,
    else one is drawn (and printed with the table)."""
    if profile.derandomize:
        return None
    value = os.environ.get("XIESHANG_FUZZ_SEED")
    return int(value) if value else random.randrange(2**32)


def load_schema(app, document: str | dict, vocabulary: dict[str, list], fields: dict[str, tuple[str, ...]]):
    """The OpenAPI document (served by ``app`` at that path, or given) bound to ``app`` as WSGI.
    Security parameters are not generated: each case carries its role's own credential. A field
    named in ``fields`` takes a value of its ``vocabulary`` entry half the time (where the value
    fits its schema; as an invalid value in negative cases where it does not)."""
    config = schemathesis.Config.from_dict(
        {
            "generation": {"with-security-parameters": False},
            "dictionaries": {name: {"values": values} for name, values in vocabulary.items()},
            "parameters": {
                field: {"dictionary": name, "probability": 0.5} for name, names in fields.items() for field in names
            },
        }
    )
    if isinstance(document, str):
        return schemathesis.openapi.from_wsgi(document, app, config=config)
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.app = app
    return schema


def admitted_roles(apps: Iterable, method: str, template: str) -> tuple[str, ...]:
    """The roles the view behind ``method template`` admits (every role when it names none)."""
    for app in apps:
        for rule in app.url_map.iter_rules():
            if re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule) == template and method in rule.methods:
                roles = allowed_roles(app.view_functions[rule.endpoint])
                return tuple(role for role in ROLES if roles is None or role in roles)
    raise AssertionError(f"{method} {template} is documented but no application serves it")


# -- what a request wrote --------------------------------------------------------------------------

_WRITE = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"?(\w+)', re.I)


class WriteWatch:
    """The tables a request committed writes to, on every database of the platform.

    The gateway runs in the calling thread, and so do the services it routes to in process; the
    relays, consumers and clocks run in threads of their own. So a statement that writes, executed
    in the watching thread, is noted on its connection, and the note is kept when that connection
    commits and dropped when it rolls back or begins anew."""

    def __init__(self, engines: dict):
        self._local = threading.local()
        for name, engine in engines.items():
            event.listen(engine, "begin", self._forget)
            event.listen(engine, "rollback", self._forget)
            event.listen(engine, "before_cursor_execute", self._executed(name))
            event.listen(engine, "commit", self._committed)

    def _executed(self, database: str):
        def note(conn, _cursor, statement, _parameters, _context, _executemany):
            if getattr(self._local, "written", None) is None:
                return
            found = _WRITE.match(statement)
            if found:
                conn.info.setdefault("fuzz_writes", set()).add(f"{database}.{found.group(1)}")

        return note

    @staticmethod
    def _forget(conn) -> None:
        conn.info.pop("fuzz_writes", None)

    def _committed(self, conn) -> None:
        written = getattr(self._local, "written", None)
        if written is not None:
            written |= conn.info.pop("fuzz_writes", set())

    @contextmanager
    def request(self):
        self._local.written = written = set()
        try:
            yield written
        finally:
            self._local.written = None


# -- where a server error came from ----------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Tracebacks logged in the watching thread while a request is answered (the services log
    every unexpected exception before they answer 500)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        caught = getattr(self._local, "caught", None)
        if caught is not None and record.exc_info and record.exc_info[1] is not None:
            caught.append(record.exc_info[1])

    @contextmanager
    def capture(self):
        self._local.caught = caught = []
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield caught
        finally:
            root.removeHandler(self)
            self._local.caught = None


def origin(exc: BaseException) -> str:
    """``ExcType: message at path/file.py:line`` of the last frame in the project's own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(ROOT))]
    frames = [f for f in frames if "/.venv/" not in f.filename] or frames
    where = f" at {Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:200]}{where}"


# -- verdicts of the error format ------------------------------------------------------------------


def _media_type(response) -> str:
    return response.headers.get("content-type", [""])[0].split(";")[0].strip()


def documented_media_types(case, status: int) -> set[str]:
    """The media types the operation documents for exactly ``status`` (not its default)."""
    answer = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    if "$ref" in answer:
        name = answer["$ref"].rsplit("/", 1)[-1]
        answer = case.operation.schema.raw_schema.get("components", {}).get("responses", {}).get(name, {})
    return set(answer.get("content", {}))


def problem_json(response, case) -> str | None:
    """What is wrong with an error answer of the platform's API, if anything. A page for people
    (the public board's HTML) may answer an error as a page where it documents that status so."""
    media_type = _media_type(response)
    documented = documented_media_types(case, response.status_code) - {"application/json", PROBLEM_JSON}
    if media_type in documented:
        return None
    if media_type != PROBLEM_JSON:
        return f"{response.status_code} answered as {media_type or 'no media type'}, not {PROBLEM_JSON}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} answered with a body that is not JSON"
    if not isinstance(body, dict):
        return f"{response.status_code} answered with a JSON {type(body).__name__}, not an object"
    missing = [
        name for name, kind in (("type", str), ("title", str), ("status", int)) if not isinstance(body.get(name), kind)
    ]
    if missing:
        return f"{response.status_code} problem without a valid {', '.join(missing)}"
    if body["status"] != response.status_code:
        return f"{response.status_code} problem whose status says {body['status']}"
    return None


def georeport_error(response, case) -> str | None:
    """What is wrong with an error answer of Open311 (the gateway's own 413 stays problem+json)."""
    if response.status_code == 413:
        return problem_json(response, case)
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} answered with a body that is not JSON"
    valid = (
        isinstance(body, list)
        and len(body) == 1
        and isinstance(body[0], dict)
        and body[0].get("code") == response.status_code
        and isinstance(body[0].get("description"), str)
    )
    return None if valid else f"{response.status_code} is not GeoReport's [{{code, description}}]"


def _negatable(operation, *, path: bool) -> bool:
    """Can schemathesis make this operation's request invalid: its body, query or headers, or (with
    ``path``) a path parameter constrained beyond a non-empty string?"""
    if len(operation.query) or len(operation.headers) or len(operation.body):
        return True
    return path and any(
        set(schema) - {"type", "minLength"} or schema.get("type", "string") != "string"
        for schema in (parameter.definition.get("schema", {}) for parameter in operation.path_parameters)
    )


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Finding:
    operation: str
    kind: str
    status: int | None
    title: str  # what went wrong, in a line: findings of one operation, kind, status and title are one
    message: str
    role: str
    mode: str
    reproduce: str
    count: int = 1


@dataclass
class Row:
    cases: int = 0
    answered_2xx: int = 0  # how deep the cases went: past validation, authorisation and look-ups
    roles: set[str] = field(default_factory=set)
    kinds: Counter = field(default_factory=Counter)


@dataclass
class Tally:
    title: str
    profile: Profile
    seed: int | None
    rows: dict[str, Row] = field(default_factory=dict)
    findings: dict[tuple, Finding] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        self.rows[finding.operation].kinds[finding.kind] += 1
        key = (finding.operation, finding.kind, finding.status, finding.title)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = finding

    @property
    def cases(self) -> int:
        return sum(row.cases for row in self.rows.values())

    def failed(self) -> int:
        return sum(sum(row.kinds.values()) for row in self.rows.values())

    def table(self) -> str:
        width = max(len(name) for name in self.rows)
        head = f"{'operation':<{width}}  {'cases':>5}  {'2xx':>5}  {'roles':>5}  " + "  ".join(
            f"{kind:>{len(kind)}}" for kind in KINDS
        )
        lines = [head, "-" * len(head)]
        totals = Counter()
        for name, row in self.rows.items():
            counts = "  ".join(f"{row.kinds[kind]:>{len(kind)}}" for kind in KINDS)
            lines.append(f"{name:<{width}}  {row.cases:>5}  {row.answered_2xx:>5}  {len(row.roles):>5}  {counts}")
            totals.update(row.kinds)
        lines.append("-" * len(head))
        counts = "  ".join(f"{totals[kind]:>{len(kind)}}" for kind in KINDS)
        answered = sum(row.answered_2xx for row in self.rows.values())
        lines.append(f"{f'{len(self.rows)} operations':<{width}}  {self.cases:>5}  {answered:>5}  {'':>5}  {counts}")
        return "\n".join(lines)

    def summary(self) -> str:
        totals = Counter()
        for row in self.rows.values():
            totals.update(row.kinds)
        kinds = ", ".join(f"{kind} {totals[kind]}" for kind in KINDS)
        return (
            f"{self.title}: {len(self.rows)} operations, {self.cases} cases; {kinds}; "
            f"{len(self.findings)} distinct failures, listed with the table in the 'fuzzing' section at the end"
        )

    def report(self) -> str:
        seed_note = f", seed {self.seed}" if self.seed is not None else ", derandomized"
        parts = [f"{self.title} — profile {self.profile.name}{seed_note}", self.table()]
        if self.findings:
            parts.append(f"{len(self.findings)} distinct failures:")
            for f in self.findings.values():
                parts.append(
                    f"* {f.operation} [{f.kind}] {f.status} {f.title} ×{f.count} (role {f.role}, {f.mode})\n"
                    f"  {f.message.strip().replace(chr(10), chr(10) + '  ')}\n  {f.reproduce}"
                )
        return "\n".join(parts)


class Fuzzer:
    """Runs one document's operations against the gateway and tallies the verdicts."""

    def __init__(
        self,
        schema,
        *,
        tally: Tally,
        roles_of: Callable[[str, str, bool], tuple[str, ...]],
        credentials: Callable[[str], tuple[dict, dict]],
        path_values: Callable[[str, bool], list[dict[str, str]]],
        watch: WriteWatch,
        error_format: Callable,
    ):
        self.schema = schema
        self.tally = tally
        self.roles_of = roles_of
        self.credentials = credentials
        self.path_values = path_values
        self.watch = watch
        self.errors = ErrorLog()
        self.error_format = error_format

    def run(self) -> Tally:
        default_security = self.schema.raw_schema.get("security")
        for result in self.schema.get_all_operations():
            operation = result.ok()
            public = operation.definition.raw.get("security", default_security) == []
            self.operation(operation, public)
        return self.tally

    def operation(self, operation, public: bool) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        row = self.tally.rows.setdefault(label, Row())
        roles = self.roles_of(operation.method.upper(), operation.path, public)
        fresh = operation.method.upper() in STATE_CHANGING
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [
                operation.as_strategy(generation_mode=mode, path_parameters=values)
                for values in self.path_values(operation.path, fresh)
                if mode.is_positive or _negatable(operation, path=False)
            ]
            if mode.is_positive or _negatable(operation, path=True):
                strategies.append(operation.as_strategy(generation_mode=mode))
            if not strategies:
                continue  # nothing of this operation can be invalid (no body, query or headers)
            cases = st.one_of(*strategies)

            @settings(
                max_examples=self.tally.profile.cases,
                phases=[Phase.generate],
                deadline=None,
                database=None,
                derandomize=self.tally.profile.derandomize,
                suppress_health_check=list(HealthCheck),
            )
            @given(role=st.sampled_from(roles), case=cases)
            def send(role, case):
                row.cases += 1
                row.roles.add(role)
                self.send(label, role, case)

            if self.tally.seed is not None:
                send = seed(self.tally.seed)(send)
            try:
                send()
            except Unsatisfiable:
                continue  # no invalid path parameter makes a request (schemathesis keeps them in the URL)

    def send(self, label: str, role: str, case) -> None:
        headers, params = self.credentials(role)
        mode = case.meta.generation.mode.value if case.meta else "?"

        def found(kind: str, status: int | None, title: str, message: str = "") -> None:
            try:
                reproduce = case.as_curl_command(headers=headers)
            except Exception as exc:  # noqa: BLE001 - an unprintable case is still a finding
                reproduce = f"(no curl command: {exc!r})"
            self.tally.add(Finding(label, kind, status, title, message, role, mode, reproduce))

        with self.watch.request() as written, self.errors.capture() as logged:
            try:
                response = case.call(headers=headers, params=params)
            except Exception as exc:  # noqa: BLE001 - an exception out of the gateway is a server error
                found("5xx", None, "exception out of the gateway", origin(exc))
                return
        status = response.status_code
        self.tally.rows[label].answered_2xx += status < 300
        for kind, checks in (
            ("5xx", [not_a_server_error]),
            ("schema", SCHEMA_CHECKS),
            ("invalid accepted", [negative_data_rejection]),
        ):
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    if kind == "5xx" and logged:  # one finding per place that failed
                        for where in {origin(exc) for exc in logged}:
                            found(kind, status, where)
                    else:
                        found(kind, status, failure.title, failure.message)
        if status >= 400:
            wrong = self.error_format(response, case)
            if wrong:
                found("no problem", status, wrong)
        unexpected = sorted(table for table in written if (label, table) not in WRITES_ON_REFUSAL)
        if 400 <= status < 500 and unexpected:
            found("write on 4xx", status, f"committed writes to {', '.join(unexpected)}")


# -- the report at the end of the pytest run -------------------------------------------------------


class Reports:
    """The tables of the fuzz runs, printed at the end of the pytest run (whatever the capture)."""

    def __init__(self):
        self.sections: list[str] = []

    def pytest_terminal_summary(self, terminalreporter) -> None:
        for section in self.sections:
            terminalreporter.write_sep("=", "fuzzing")
            terminalreporter.write_line(section)


def report(config, tally: Tally) -> None:
    reports = config.pluginmanager.get_plugin("xieshang-fuzz-reports")
    if reports is None:
        reports = Reports()
        config.pluginmanager.register(reports, "xieshang-fuzz-reports")
    reports.sections.append(tally.report())

"""The fuzz run of the whole platform: its merged OpenAPI document and Open311, through the gateway
of an ``all`` assembly, on whatever databases and bus the test's settings name."""

from __future__ import annotations

from tests.fuzz import open311
from tests.fuzz.harness import (
    ANONYMOUS,
    API_KEY,
    Fuzzer,
    Tally,
    WriteWatch,
    admitted_roles,
    current_profile,
    fuzz_seed,
    georeport_error,
    load_schema,
    problem_json,
)
from tests.fuzz.world import World

# The platform as the fuzzer needs it: no rate limit in the way of a few thousand requests from one
# caller, and event streams that end at once instead of holding the run for five minutes.
FUZZ_ENV = {
    "XIESHANG_RATE_LIMIT": "100000000",
    "XIESHANG_STREAM_MAX_SECONDS": "0.2",
    "XIESHANG_STREAM_POLL_SECONDS": "0.05",
}


# Which known values (``World.vocabulary``) each field of a body or query may take, half the time.
FIELDS = {
    "division": (
        "body.community_code", "body.division_code", "body.scope", "query.community", "query.division",
        "query.scope", "query.parent",
    ),
    "category": ("body.category", "query.category"),
    "organisation": ("body.organisation_id", "body.department_id", "query.organisation"),
    "person": ("body.person_id", "body.app_user_id", "body.account_id", "body.submitter_id"),
    "proposal": ("body.into", "body.proposal_id", "body.follows_id"),
    "later": ("body.starts_at", "body.ends_at", "body.closes_at"),
    "soon": ("body.opens_at",),
    "earlier": ("body.held_at",),
    "day": ("body.deadline",),
    "month": ("query.since", "query.until"),
}  # fmt: skip


def fuzz_platform(assembly, client, keys, title: str) -> Tally:
    platform = assembly.platform
    world = World(assembly, client, keys)
    apps = [*assembly.apps.values(), assembly.http_entry.own]
    engines = {name: platform.runtime(name).db.engine for name in platform.specs}
    engines["gateway"] = platform.gateway().db.engine
    watch = WriteWatch(engines)
    profile = current_profile()
    tally = Tally(title, profile, fuzz_seed(profile))

    def credentials(role: str) -> tuple[dict, dict]:
        if role == ANONYMOUS:
            return {}, {}
        if role == API_KEY:
            return {}, {"api_key": world.api_key}
        return {"Authorization": f"Bearer {world.tokens[role]}"}, {}

    def api_roles(method: str, template: str, public: bool) -> tuple[str, ...]:
        return (ANONYMOUS, "resident") if public else admitted_roles(apps, method, template)

    def open311_roles(method: str, template: str, public: bool) -> tuple[str, ...]:
        if public:
            return (ANONYMOUS,)
        return (*admitted_roles(apps, method, template.removesuffix(".json")), API_KEY)

    vocabulary = world.vocabulary()
    for document, roles_of, error_format in (
        ("/api/v1/openapi.json", api_roles, problem_json),
        (open311.document(platform.settings.jurisdiction_id, vocabulary), open311_roles, georeport_error),
    ):
        Fuzzer(
            load_schema(assembly.http_entry, document, vocabulary, FIELDS),
            tally=tally,
            roles_of=roles_of,
            credentials=credentials,
            path_values=world.path_values,
            watch=watch,
            error_format=error_format,
        ).run()
    return tally

"""Reference data kept by a process for a few seconds (``shared.reference_cache``): a change made in the
process is seen at once, one made elsewhere within ``REFERENCE_SECONDS``, nothing absent is kept, and
a look-up that locks always reads the database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.intake import domain, models, services
from shared.db import Database
from shared.division_registry import DivisionRegistry, upsert
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import Invalid
from shared.reference_cache import ReferenceCache
from tests.conftest import YANLIUYUAN
from tests.support import Seconds
from tests.unit.test_intake_services import OPERATOR, intake  # noqa: F401 - intake: the fixture

RESIDENT = Principal("resident-1", "resident", YANLIUYUAN)
COMMUNITY = Division(YANLIUYUAN, "烟柳园社区", "community", "341702001000", "test", True)
NEW_COMMUNITY = Division("341702001099", "新建社区", "community", "341702001000", "test", True)
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return Seconds()


@pytest.fixture
def cache(clock):
    return ReferenceCache(5.0, clock)


def loader(*values):
    """A load function answering ``values`` in turn, counting its calls."""
    answers = iter(values)

    def load():
        load.calls += 1
        return next(answers)

    load.calls = 0
    return load


def test_a_value_is_kept_for_its_seconds_then_read_again(cache, clock):
    load = loader("old", "new")
    assert cache.get("k", load) == "old"
    clock.now += 4.9
    assert cache.get("k", load) == "old"
    clock.now += 0.2
    assert cache.get("k", load) == "new"
    assert load.calls == 2


def test_nothing_absent_is_kept(cache):
    load = loader(None, "added")
    assert cache.get("k", load) is None
    assert cache.get("k", load) == "added"


def test_the_oldest_read_leaves_when_the_cache_is_full(clock):
    cache = ReferenceCache(5.0, clock, entries=2)
    loads = {key: loader(key, key) for key in "abc"}
    for key in "abc":
        cache.get(key, loads[key])
    assert [cache.get(key, loads[key]) for key in "bca"] == ["b", "c", "a"]
    assert {key: load.calls for key, load in loads.items()} == {"a": 2, "b": 1, "c": 1}


def test_a_value_read_while_the_cache_is_cleared_is_not_kept(cache):
    def load_during_a_change():
        cache.clear()  # a reference change committed while this value was being read
        return "maybe stale"

    assert cache.get("k", load_during_a_change) == "maybe stale"
    assert cache.get("k", loader("current")) == "current"


@pytest.fixture
def two_processes(tmp_path):
    """Two processes' databases on one file: each keeps its own reference cache."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    first, second = Database(url, "intake"), Database(url, "intake")
    models.metadata.create_all(first.engine)
    with first.transaction() as session:
        upsert(session, models.divisions, [COMMUNITY])
    yield first, second
    first.dispose()
    second.dispose()


def active(db: Database) -> Division | None:
    with db.transaction() as session:
        return DivisionRegistry(session, models.divisions).active_community(YANLIUYUAN)


def test_a_division_deactivated_here_is_seen_at_once_and_elsewhere_within_the_seconds(two_processes, clock):
    here, elsewhere = two_processes
    elsewhere.reference.clock = clock
    assert active(here) == active(elsewhere) == COMMUNITY
    with here.transaction() as session:
        upsert(session, models.divisions, [replace(COMMUNITY, active=False)])
    assert active(here) is None
    assert active(elsewhere) == COMMUNITY  # read 0 s ago
    clock.now += 5.0
    assert active(elsewhere) is None


def test_a_change_rolled_back_is_never_kept_and_leaves_the_cache_as_it_was(two_processes):
    here, _ = two_processes
    assert active(here) == COMMUNITY
    with pytest.raises(RuntimeError), here.transaction() as session:
        upsert(session, models.divisions, [replace(COMMUNITY, active=False)])
        assert DivisionRegistry(session, models.divisions).active_community(YANLIUYUAN) is None  # its own change
        raise RuntimeError("refused later in the same transaction")
    assert active(here) == COMMUNITY
    with here.engine.begin() as conn:  # behind the registry's back: only a kept value still says 烟柳园社区
        conn.execute(models.divisions.update().values(name="改名"))
    assert active(here).name == "烟柳园社区"


def test_a_locking_look_up_reads_the_database(two_processes):
    here, _ = two_processes
    assert active(here) == COMMUNITY
    with here.engine.begin() as conn:  # behind the registry's back, as another process's write
        conn.execute(models.divisions.update().values(name="改名"))
    with here.transaction() as session:
        registry = DivisionRegistry(session, models.divisions)
        assert registry.get(YANLIUYUAN).name == "烟柳园社区"
        assert registry.get(YANLIUYUAN, for_update=True).name == "改名"


def submit(intake, category: str, community: str = YANLIUYUAN):
    with intake.unit_of_work() as uow:
        return services.submit(
            uow, OPERATOR, community_code=community, title="路灯不亮", description="楼下路灯坏了两周",
            category=category, via="app", now=NOW,
        )  # fmt: skip


def test_a_category_retired_is_refused_at_once_and_one_added_is_accepted_at_once(intake):
    category = next(iter(domain.DEFAULT_CATEGORIES))
    submit(intake, category)  # the process now keeps the categories
    with intake.unit_of_work() as uow:
        services.put_category(uow, OPERATOR, category, domain.DEFAULT_CATEGORIES[category], False)
        services.put_category(uow, OPERATOR, "drainage", "排水", True)
    with pytest.raises(Invalid):
        submit(intake, category)
    assert submit(intake, "drainage").proposal.category == "drainage"


def test_a_community_not_in_the_registry_is_found_once_it_is_added(intake):
    category = next(iter(domain.DEFAULT_CATEGORIES))
    with pytest.raises(Invalid):
        submit(intake, category, NEW_COMMUNITY.code)
    with intake.db.transaction() as session:
        upsert(session, models.divisions, [NEW_COMMUNITY])
    assert submit(intake, category, NEW_COMMUNITY.code).community == NEW_COMMUNITY

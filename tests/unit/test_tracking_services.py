"""Tracking's use cases without HTTP: the division registry it owns."""

from dataclasses import replace

import pytest

from services.tracking import services
from shared.principal import Principal
from shared.problems import NotFound
from tests.conftest import CHIYANG, YANLIUYUAN


@pytest.fixture
def tracking(memory_service):
    return memory_service("tracking")  # the registry already holds the shipped file


def street_admin() -> Principal:
    return Principal("admin-1", "street_admin", CHIYANG)


def test_loading_the_same_file_again_changes_and_publishes_nothing(tracking, divisions):
    with tracking.unit_of_work() as uow:
        assert services.load_divisions(uow, divisions) == []
    assert tracking.emitted("tracking.divisions.changed") == []


def test_a_renamed_community_is_stored_and_published_alone(tracking, divisions):
    renamed = [replace(d, name="烟柳园新社区") if d.code == YANLIUYUAN else d for d in divisions]
    with tracking.unit_of_work() as uow:
        changed = services.load_divisions(uow, renamed)
    assert [d.code for d in changed] == [YANLIUYUAN]
    (payload,) = tracking.emitted("tracking.divisions.changed")
    assert [d["name"] for d in payload["divisions"]] == ["烟柳园新社区"]
    with tracking.unit_of_work() as uow:
        assert services.get_division(uow, street_admin(), YANLIUYUAN).name == "烟柳园新社区"


def test_a_resync_publishes_the_whole_registry_in_parts(tracking, divisions):
    with tracking.unit_of_work() as uow:
        assert len(services.load_divisions(uow, divisions, resync=True)) == len(divisions)
    parts = tracking.emitted("tracking.divisions.changed")
    assert sum(len(p["divisions"]) for p in parts) == len(divisions)
    assert {p["parts"] for p in parts} == {len(parts)}


def test_a_caller_sees_its_scope_and_the_areas_above_it_but_not_beside_it(tracking):
    with tracking.unit_of_work() as uow:
        assert services.get_division(uow, street_admin(), "341702000000").level == "county"  # above
        assert services.get_division(uow, street_admin(), YANLIUYUAN).level == "community"  # inside
        with pytest.raises(NotFound):
            services.get_division(uow, street_admin(), "341702002000")  # another street
        with pytest.raises(NotFound):
            services.get_division(uow, street_admin(), "999999999999")


def test_lists_stay_inside_the_scope(tracking):
    with tracking.unit_of_work() as uow:
        streets = services.list_divisions(uow, Principal("op", "city_operator", "3417"), parent="341702000000")
        mine = services.list_divisions(uow, street_admin(), parent="341702000000")
    assert len(streets) > 1 and all(d.parent_code == "341702000000" for d in streets)
    assert [d.code for d in mine] == [CHIYANG + "000"]

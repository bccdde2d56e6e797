import pytest
from sqlalchemy import func, select

from services.intake.models import divisions as intake_divisions
from services.tracking import services
from shared.division_registry import DivisionRegistry
from shared.divisions import DivisionFileError, expected_parent, level_of, parse_csv
from tests.conftest import CHIYANG, YANLIUYUAN

HEADER = "code,name,level,parent_code,source\n"


def test_shipped_registry_holds_chizhou_down_to_streets_and_marked_samples(divisions):
    by_code = {d.code: d for d in divisions}
    assert by_code["341700000000"].name == "池州市"
    assert by_code[CHIYANG + "000"].name == "池阳街道"
    assert by_code[CHIYANG + "000"].source == "nbs-2023"
    assert by_code[YANLIUYUAN].name == "烟柳园社区"
    assert by_code[YANLIUYUAN].source == "sample"
    assert all(d.code.startswith("34") for d in divisions)
    assert {d.level for d in divisions} == {"province", "city", "county", "street", "community"}


def test_levels_follow_the_12_digit_code():
    assert level_of("340000000000") == "province"
    assert level_of("341700000000") == "city"
    assert level_of("341702000000") == "county"
    assert level_of("341702001000") == "street"
    assert level_of("341702001001") == "community"
    assert expected_parent("341702001001", "community") == "341702001000"
    assert expected_parent("340000000000", "province") is None


def test_a_bad_file_is_rejected_whole_listing_every_bad_row():
    text = HEADER + (
        "3417,池州市,city,340000000000,x\n"  # not 12 digits
        "341702001001,烟柳园社区,street,341702000000,x\n"  # level does not match code
        "341702001002,西街社区,community,341702000000,x\n"  # wrong parent
    )
    with pytest.raises(DivisionFileError) as caught:
        parse_csv(text)
    assert len(caught.value.problems) == 3
    assert "line 2" in caught.value.problems[0]


def test_missing_columns_are_reported():
    with pytest.raises(DivisionFileError):
        parse_csv("code,name\n341700000000,池州市\n")


def test_loading_publishes_only_what_changed(platform, divisions):
    tracking = platform.runtime("tracking")
    with tracking.unit_of_work() as uow:
        first = services.load_divisions(uow, divisions)
    assert len(first) == len(divisions)
    assert [e.type for e in uow.events] == ["tracking.divisions.changed"]
    renamed = [d if d.code != YANLIUYUAN else type(d)(**{**d.to_dict(), "name": "烟柳园新社区"}) for d in divisions]
    with tracking.unit_of_work() as uow:
        second = services.load_divisions(uow, renamed)
    assert [d.code for d in second] == [YANLIUYUAN]
    assert uow.events[0].payload["divisions"][0]["name"] == "烟柳园新社区"


def test_every_service_replicates_the_registry_through_events(platform, divisions):
    tracking = platform.runtime("tracking")
    with tracking.unit_of_work() as uow:
        services.load_divisions(uow, divisions)
    intake = platform.runtime("intake")
    consumer = intake.consumer()
    for envelope in uow.events:
        assert consumer.apply(envelope.to_dict()) == "processed"
    with intake.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(intake_divisions)) == len(divisions)
        assert DivisionRegistry(session, intake_divisions).active_community(YANLIUYUAN).name == "烟柳园社区"
        assert DivisionRegistry(session, intake_divisions).active_community(CHIYANG + "000") is None  # a street

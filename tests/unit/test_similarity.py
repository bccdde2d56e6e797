"""Likely duplicates: the same matter in other words is suggested, other matters and other communities are not.

The matters are the seed report's (杏花家园地块停车场建设, 红光市场3号楼地下管网堵塞, 绣春巷开水炉扰民,
红光新村小区业委会活动场所地址问题), in residents' words.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import MetaData, select

from services.intake import similarity as similarity_module
from services.intake.similarity import (
    DUPLICATE_THRESHOLD,
    DuplicateIndex,
    Indexed,
    duplicate_tables,
    feature_ids,
    features,
    normalise,
    similarity,
    telling,
)
from shared.db import Database
from tests.conftest import XIJIE, YANLIUYUAN

BOILER = ("绣春巷开水炉扰民", "绣春巷的开水炉每天清晨鼓风,噪音很大,影响居民休息。")
BOILER_AGAIN = ("开水炉噪音扰民(绣春巷)", "绣春巷口开水房锅炉一早就响,吵得睡不着。")
PARKING = ("杏花家园地块停车场建设", "杏花家园旁边的地块闲置多年,居民停车难,希望在地块上建设停车场。")
DRAINS = ("红光市场3号楼地下管网堵塞", "红光市场3号楼地下管网经常堵塞,污水外溢,影响居民生活和出行。")
COMMITTEE = ("红光新村小区业委会活动场所", "红光新村小区业委会没有固定的活动场所,希望社区协调解决场所地址问题。")
LANE_LAMPS = ("绣春巷路灯损坏", "绣春巷的路灯坏了很久,晚上居民出行不便,影响安全。")
LANE_BINS = ("绣春巷垃圾桶满了没人清理", "绣春巷口的垃圾桶每天清晨都满溢,气味很大,影响居民休息。")
DRAINS_AGAIN = ("3号楼下水管网又堵了(红光市场)", "红光市场3号楼的地下管网堵塞好几天,污水冒到路面。")

OTHER_MATTERS = {"parking": PARKING, "drains": DRAINS, "committee": COMMITTEE, "lane lamps": LANE_LAMPS}


# -- the score -------------------------------------------------------------------------------------


def test_two_wordings_of_the_boiler_matter_read_as_one_matter():
    assert similarity(*BOILER, *BOILER_AGAIN) >= DUPLICATE_THRESHOLD + 0.1


@pytest.mark.parametrize("other", OTHER_MATTERS.values(), ids=OTHER_MATTERS.keys())
def test_the_reports_other_matters_do_not_read_as_the_boiler_matter(other):
    assert similarity(*BOILER_AGAIN, *other) <= DUPLICATE_THRESHOLD - 0.1


def test_another_matter_of_the_same_lane_is_not_a_duplicate():
    for lane_matter in (LANE_LAMPS, LANE_BINS):
        assert similarity(*BOILER, *lane_matter) <= DUPLICATE_THRESHOLD - 0.1


def test_the_score_is_between_zero_and_one_and_symmetric():
    assert similarity(*BOILER, *BOILER) == pytest.approx(1.0)
    assert similarity(*BOILER, "", "") == 0.0
    assert similarity(*BOILER, *BOILER_AGAIN) == pytest.approx(similarity(*BOILER_AGAIN, *BOILER))
    for other in OTHER_MATTERS.values():
        assert 0.0 <= similarity(*BOILER, *other) <= 1.0


def test_full_width_ascii_case_spaces_and_punctuation_variants_read_the_same():
    plain = ("红光市场3号楼WiFi信号差", "楼道里wifi没信号,3楼最差")
    for title, description in [
        ("红光市场３号楼ＷｉＦｉ信号差", "楼道里ｗｉｆｉ没信号，３楼最差！"),
        ("「红光市场」3号楼 wifi 信号差!!", "楼道里……WIFI没信号;3楼最差。"),
        ("红光市场 3 号楼 —— Wi-Fi、信号差", "楼道里 Wi Fi 没信号 3楼 最差"),
    ]:
        assert features(title, description) == features(*plain)
        assert similarity(title, description, *plain) == pytest.approx(1.0)
    assert normalise("ＡＢＣ，小区！　３号楼") == "abc小区3号楼"


def test_features_are_bigrams_with_the_title_weighing_more():
    weights = features("开水炉扰民", "开水炉很吵")
    assert weights == {"开水": 2.0, "水炉": 2.0, "炉扰": 2.0, "扰民": 2.0, "炉很": 1.0, "很吵": 1.0}
    # The index knows a gram by a 32-bit id, whatever its length.
    ids = feature_ids("supercalifragilistic 路灯", "x")
    assert len(ids) == len(features("supercalifragilistic 路灯", "x"))
    assert all(-(2**31) <= gram < 2**31 for gram in ids)


# -- the index -------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'intake.db'}", "intake")
    yield database
    database.engine.dispose()


@pytest.fixture
def tables(db):
    metadata = MetaData()
    made = duplicate_tables(metadata)
    metadata.create_all(db.engine)
    return made


@pytest.fixture
def index(tables):
    return DuplicateIndex(tables)


@pytest.fixture
def community(db, index):
    """烟柳园社区's raised matters, and one boiler complaint of 西街社区; name → proposal id."""
    ids = {}
    with db.transaction() as session:
        for name, (title, description) in {
            "boiler": BOILER,
            **OTHER_MATTERS,
            "lane bins": LANE_BINS,
        }.items():
            ids[name] = str(uuid.uuid4())
            index.add(session, ids[name], YANLIUYUAN, title, description)
        ids["xijie boiler"] = str(uuid.uuid4())
        index.add(
            session, ids["xijie boiler"], XIJIE, "西街开水炉噪音扰民", "西街的开水炉清晨鼓风噪音很大,吵得睡不着。"
        )
    return ids


def submit(db, index, community_code, title, description, **options):
    with db.transaction() as session:
        return index.candidates(session, community_code, title, description, **options)


def test_on_submit_the_same_matter_in_other_words_is_suggested(db, index, community):
    matches = submit(db, index, YANLIUYUAN, *BOILER_AGAIN)
    assert [m.proposal_id for m in matches] == [community["boiler"]]
    # No gram is common yet in so small a community, so the index scores exactly as ``similarity`` does.
    assert matches[0].score == pytest.approx(similarity(*BOILER_AGAIN, *BOILER))


def test_a_reworded_drains_complaint_finds_the_drains_matter_only(db, index, community):
    matches = submit(db, index, YANLIUYUAN, *DRAINS_AGAIN)
    assert [m.proposal_id for m in matches] == [community["drains"]]


@pytest.mark.parametrize("name", ["parking", "committee", "lane lamps"])
def test_a_matter_unlike_the_others_is_suggested_nothing_but_its_own_record(db, index, community, name):
    own = community[name]
    assert [m.proposal_id for m in submit(db, index, YANLIUYUAN, *OTHER_MATTERS[name])] == [own]
    assert submit(db, index, YANLIUYUAN, *OTHER_MATTERS[name], exclude_ids=[own]) == []


def test_matters_of_another_community_are_not_suggested(db, index, community):
    suggested = {m.proposal_id for m in submit(db, index, YANLIUYUAN, *BOILER_AGAIN)}
    assert community["xijie boiler"] not in suggested
    in_xijie = submit(db, index, XIJIE, *BOILER_AGAIN)
    assert [m.proposal_id for m in in_xijie] == [community["xijie boiler"]]
    assert submit(db, index, "341702002001", *BOILER_AGAIN) == []  # a community with nothing indexed


def test_a_removed_proposal_is_no_longer_suggested(db, index, tables, community):
    with db.transaction() as session:
        index.remove(session, community["boiler"], YANLIUYUAN)  # e.g. merged into another or rejected
        index.remove(session, community["boiler"], YANLIUYUAN)  # twice is harmless
    assert submit(db, index, YANLIUYUAN, *BOILER_AGAIN) == []
    with db.transaction() as session:
        mark = session.execute(
            select(tables.features.c.live, tables.features.c.grams).where(
                tables.features.c.proposal_id == community["boiler"]
            )
        ).one()
    assert tuple(mark) == (False, [])


def test_a_proposal_removed_before_it_was_indexed_stays_out(db, index):
    """A matter merged or rejected before intake's worker indexed its submission is never suggested."""
    proposal_id = str(uuid.uuid4())
    with db.transaction() as session:
        index.remove(session, proposal_id, YANLIUYUAN)
    with db.transaction() as session:
        assert index.add(session, proposal_id, YANLIUYUAN, *BOILER) == 0
    assert submit(db, index, YANLIUYUAN, *BOILER_AGAIN) == []


def test_indexing_a_proposal_twice_counts_it_once(db, index, tables, community):
    """A redelivered submission event changes nothing."""
    with db.transaction() as session:
        assert index.add(session, community["boiler"], YANLIUYUAN, *BOILER) == 0
        assert index.proposals(session, YANLIUYUAN) == 6
    assert [m.proposal_id for m in submit(db, index, YANLIUYUAN, *BOILER_AGAIN)] == [community["boiler"]]


def test_a_matter_not_indexed_yet_is_scored_when_given(db, index, community):
    """The look-up scores matters submitted moments ago, which intake's worker has not indexed yet."""
    fresh = Indexed(str(uuid.uuid4()), YANLIUYUAN, "绣春巷开水炉噪音扰民", "开水炉清晨鼓风,噪音扰民。")
    elsewhere = Indexed(str(uuid.uuid4()), XIJIE, *BOILER)
    matches = submit(db, index, YANLIUYUAN, *BOILER_AGAIN, unindexed=[fresh, elsewhere])
    assert {m.proposal_id for m in matches} == {community["boiler"], fresh.proposal_id}


def test_suggestions_are_best_first_within_the_limit(db, index, community):
    with db.transaction() as session:
        index.add_many(
            session,
            [
                Indexed(str(uuid.uuid4()), YANLIUYUAN, *BOILER_AGAIN),
                Indexed(str(uuid.uuid4()), YANLIUYUAN, "绣春巷开水炉噪音扰民", "开水炉清晨鼓风,噪音扰民。"),
            ],
        )
    matches = submit(db, index, YANLIUYUAN, *BOILER, exclude_ids=[community["boiler"]])
    assert len(matches) == 2
    assert matches[0].score >= matches[1].score >= DUPLICATE_THRESHOLD
    assert len(submit(db, index, YANLIUYUAN, *BOILER, limit=1)) == 1


def test_gram_counts_follow_adds_and_removals(db, index, tables, community):
    with db.transaction() as session:
        index.remove(session, community["parking"], YANLIUYUAN)
        index.add(session, str(uuid.uuid4()), YANLIUYUAN, *LANE_BINS)
        f, p = tables.features.c, tables.postings.c
        live = session.execute(select(f.community_code, f.grams).where(f.live)).all()
        counted = {
            (c, g): n for c, g, n in session.execute(select(p.community_code, p.gram, p.n).where(p.chunk == 0)) if n
        }
        proposals = {code: index.proposals(session, code) for code in (YANLIUYUAN, XIJIE)}
    assert counted == dict(Counter((c, g) for c, grams in live for g in grams))
    assert proposals == {YANLIUYUAN: 6, XIJIE: 1}


def test_a_grams_postings_fill_chunks_in_turn(db, tables, monkeypatch):
    """Postings go to a gram's last chunk until it holds ``CHUNK`` docs, then to a new one."""
    monkeypatch.setattr(similarity_module, "CHUNK", 3)
    index = DuplicateIndex(tables)
    with db.transaction() as session:
        index.add_many(session, [Indexed(f"p{n}", YANLIUYUAN, *BOILER) for n in range(4)])
        for n in range(4, 7):
            index.add(session, f"p{n}", YANLIUYUAN, *BOILER)
        p = tables.postings.c
        chunks = session.execute(
            select(p.chunk, p.docs).where(p.gram == next(iter(feature_ids(*BOILER)))).order_by(p.chunk)
        ).all()
    assert [(chunk, len(docs)) for chunk, docs in chunks] == [(0, 3), (1, 3), (2, 1)]
    assert len(submit(db, index, YANLIUYUAN, *BOILER_AGAIN, limit=10)) == 7


def test_boilerplate_every_proposal_of_a_community_uses_counts_less(db, tables):
    """In a community where every proposal ends with the same plea, sharing the plea says little."""
    plea = "希望社区协调解决,影响居民休息。"
    places = ("菜场旁", "幼儿园门口", "西街口", "老体育场", "邮电小区", "粮食局宿舍", "铁佛巷", "清风街")
    things = ("路灯不亮", "下水道堵塞", "垃圾桶满溢", "围墙破损", "积水严重")
    index = DuplicateIndex(tables, threshold=0.0)
    with db.transaction() as session:
        index.add_many(
            session,
            [
                Indexed(f"{place}-{thing}", YANLIUYUAN, f"{place}{thing}", f"{place}{thing}好几天了,{plea}")
                for place in places
                for thing in things
            ],
        )
    asked = ("绣春巷开水炉扰民", f"绣春巷开水炉清晨鼓风,{plea}")
    scores = {m.proposal_id: m.score for m in submit(db, index, YANLIUYUAN, *asked, limit=50)}
    lamps = scores["菜场旁-路灯不亮"]
    assert lamps < similarity(*asked, "菜场旁路灯不亮", f"菜场旁路灯不亮好几天了,{plea}") / 2
    assert max(scores.values()) < DUPLICATE_THRESHOLD


def test_a_gram_weighs_less_only_once_it_is_common():
    assert telling(10, 10) == 1.0  # a small community: nothing is common
    assert telling(100_000, 1_000) == 1.0  # in 1 % of the proposals
    assert 0.05 < telling(100_000, 10_000) < telling(100_000, 2_000) < 1.0
    assert telling(100_000, 100_000) == 0.05

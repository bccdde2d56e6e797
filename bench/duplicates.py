"""Duplicate look-up benchmark: ``DuplicateIndex.candidates`` with 100,000 proposals in one community.

``python -m bench.duplicates [--proposals N] [--lookups M] [--database-url URL]``

On the real PostgreSQL (``XIESHANG_BENCH_DATABASE_URL``) in a scratch database ``xs_dup_<random>``,
dropped at the end:

1. load (untimed for the goal, reported): N synthetic proposals of ONE community, generated from
   vocabularies of the seed report's community (places such as 绣春巷, 红光市场, 杏花家园; objects such
   as 路灯, 下水道, 开水炉; problems such as 堵塞, 噪音扰民, 被占用; times, effects, requests and
   everyday detail), indexed with ``DuplicateIndex.add_many`` in transactions of ``BATCH`` proposals,
   then ``VACUUM ANALYZE`` (what autovacuum does to a table that grew);
2. look-up (timed): M new proposals, one ``candidates()`` call each in its own transaction, timed
   around the call. A third reword an indexed proposal's matter (same place, object and problem,
   another template and other detail); a third are fresh proposals (random place, object and problem
   of the same vocabularies: with 100,000 proposals most such matters were raised before); a third
   are about places the index has never seen. The same look-ups run once untimed first (warm-up:
   connections, statement compilation, the database's cache), then timed.

Printed: load time and rate, index size, p50/p95/p99 of the look-up against the goal (p95 ≤ 50 ms),
and what the look-ups found: how often a proposal of the same matter (and the reworded one itself)
was suggested, and how the suggested matters relate to the asked one (same matter; same object and
problem in another place; ...), for judging ``DUPLICATE_THRESHOLD`` on a large community.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import MetaData, func, select, text

from bench.infra import ScratchDatabases, add_database_url, run_id
from bench.results import record
from services.intake.similarity import DuplicateIndex, DuplicateTables, Indexed, duplicate_tables
from shared.db import Database

COMMUNITY = "341702001001"  # 烟柳园社区 (sample code)
BATCH = 2_000
GOAL_P95_MS = 30.0
GOAL_BYTES = 2_048
GOAL_RECALL = 92.0  # % of reworded look-ups with one of the same matter in the top 5, before the compact index

PLACES = (
    "绣春巷", "红光市场", "杏花家园", "烟柳园", "红光新村", "西街", "杏花村路", "秋浦西路", "长江中路",
    "百牙中路", "翠微路", "九华山路", "清溪大道", "人民路", "池阳路", "齐山大道", "平天湖东路", "东湖花园",
    "金色夕阳小区", "馨香苑", "翠柏新村", "梅龙街", "贵池路", "通远门巷", "烟柳春雨广场", "百荷公园",
    "清风街", "铁佛巷", "孝肃街", "昭明路", "萧统路", "商之都", "秋浦花园", "建设新村", "邮电小区",
    "粮食局宿舍", "供电公司宿舍", "农机厂宿舍", "老体育场", "菜场东巷",
)  # fmt: skip
UNSEEN_PLACES = ("望华楼巷", "白洋河路", "碧山小区", "牯牛降新村", "大王洞街", "霄坑园")
SPOTS = (
    "", "", "", "口", "东门", "南门", "北侧", "中段", "菜场旁", "幼儿园门口", "公厕旁", "停车场",
    "小广场", "{n}号楼", "{n}号楼", "{n}栋", "{n}栋{u}单元", "{n}号楼后面", "{n}号门面前",
)  # fmt: skip
OBJECTS = (
    "路灯", "下水道", "停车位", "垃圾桶", "电梯", "开水炉", "化粪池", "健身器材", "围墙", "楼道灯",
    "消防通道", "窨井盖", "雨水管", "绿化带", "充电桩", "监控探头", "公共厕所", "自来水管", "屋顶",
    "人行道", "晾衣架", "信报箱", "单元门禁", "排油烟管道", "地下管网", "自行车棚", "休闲座椅", "宣传栏",
    "老年活动室", "业委会活动场所", "防盗窗", "空调外机", "树木", "污水井", "垃圾中转站", "小区大门",
)  # fmt: skip
PROBLEMS = (
    "损坏", "堵塞", "噪音扰民", "被占用", "不亮", "漏水", "有异味", "破损", "缺失", "乱停乱放", "老化",
    "积水", "坍塌", "长期无人管理", "存在安全隐患", "收费不合理", "设置不合理", "影响通行",
)  # fmt: skip
TITLES = (
    "{place}{spot}{object}{problem}",
    "{object}{problem}({place})",
    "关于{place}{object}{problem}的问题",
    "{place}的{object}{problem},请尽快处理",
    "{place}{spot}{object}{problem}问题",
    "反映{place}{object}{problem}",
    "{place}{object}{problem},居民盼解决",
)
OPENINGS = (
    "{place}{spot}的{object}{time}{problem}",
    "我家住在{place}{spot}附近,这里的{object}{time}{problem}",
    "{time},{place}{spot}那边的{object}{problem}",
    "{place}{object}{problem}的情况{time}一直存在",
    "反映一下,{place}{spot}{object}{problem}",
)
TIMES = (
    "最近一个月", "从去年冬天开始", "已经两个多星期", "每天清晨", "一到雨天", "晚上八点以后", "今年开春以来",
    "周末", "这半年来", "上个月修过一次后又", "前几天", "夏天一到", "", "",
)  # fmt: skip
EFFECTS = (
    "影响居民休息", "老人孩子出行不便", "存在安全隐患", "夏天气味难闻", "居民意见很大", "给周边商户带来不便",
    "晚上走路看不清", "楼上楼下都受影响", "上班族早出晚归很不方便", "残疾人轮椅过不去", "蚊虫滋生",
    "快递车进不来", "孩子放学路上不安全", "已经有人摔倒过",
)  # fmt: skip
REQUESTS = (
    "希望社区协调物业尽快解决", "建议召开居民议事会商量", "请相关部门来看看", "希望尽快维修",
    "盼望早日解决", "建议纳入问题菜单协商", "希望网格员帮忙反映", "请业委会牵头处理", "恳请街道重视",
)  # fmt: skip
DETAILS = (
    "住在{n}栋的{surname}阿姨说已经打过{k}次电话", "{surname}师傅拍了照片发在微信群里",
    "群里有{k}十多户居民附议", "物业说要等维修基金批下来", "之前反映过{k}次都没有下文",
    "有居民自己买了材料想修但找不到人", "楼长{surname}大爷挨家挨户问过意见", "社区网格员来看过一次",
    "附近的{surname}家超市老板也有意见", "晚上{k}点多还能听到", "下雨天更严重", "希望费用按户分摊",
    "愿意出力参加义务劳动", "可以先在微信群里投票", "建议同时考虑无障碍设施", "旁边就是小学",
    "周边还有几家早点摊", "冬天结冰更危险", "外来车辆也经常停在这里", "租户比较多不好协调",
)  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"


@dataclass(frozen=True)
class Matter:
    place: str
    object: str
    problem: str


def _fill(rng: random.Random, template: str, matter: Matter) -> str:
    spot = rng.choice(SPOTS).format(n=rng.randint(1, 36), u=rng.randint(1, 4))
    return template.format(
        place=matter.place,
        spot=spot,
        object=matter.object,
        problem=matter.problem,
        time=rng.choice(TIMES),
    )


def wording(rng: random.Random, matter: Matter) -> tuple[str, str]:
    """A resident's title and description of ``matter``: a template, plus effects, a request and detail."""
    title = _fill(rng, rng.choice(TITLES), matter)
    sentences = [_fill(rng, rng.choice(OPENINGS), matter), *rng.sample(EFFECTS, rng.randint(1, 2))]
    for _ in range(rng.randint(0, 3)):
        sentences.append(
            rng.choice(DETAILS).format(n=rng.randint(1, 36), k=rng.randint(2, 9), surname=rng.choice(SURNAMES))
        )
    sentences.append(rng.choice(REQUESTS))
    return title, ",".join(sentences) + "。"


def matter(rng: random.Random, places: tuple[str, ...] = PLACES) -> Matter:
    return Matter(rng.choice(places), rng.choice(OBJECTS), rng.choice(PROBLEMS))


OVERLAPS = (
    "same matter",
    "same place and object",
    "same object and problem, other place",
    "same place and problem, other object",
    "one facet in common",
    "nothing in common",
)


def overlap(found: Matter, asked: Matter) -> str:
    """How a suggested proposal's matter relates to the asked one's (for judging the threshold)."""
    place, thing, problem = found.place == asked.place, found.object == asked.object, found.problem == asked.problem
    if place and thing and problem:
        return OVERLAPS[0]
    if place and thing:
        return OVERLAPS[1]
    if thing and problem:
        return OVERLAPS[2]
    if place and problem:
        return OVERLAPS[3]
    return OVERLAPS[4] if place or thing or problem else OVERLAPS[5]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def say(line: str = "") -> None:
    print(line, flush=True)


def load(
    db: Database, index: DuplicateIndex, rng: random.Random, n: int, communities: dict[str, tuple[str, ...]]
) -> tuple[dict[str, tuple[str, Matter]], dict, float]:
    """N proposals spread evenly at random over ``communities`` (code → its places), indexed in bursts."""
    matters: dict[str, tuple[str, Matter]] = {}
    texts: dict[str, tuple[str, str]] = {}
    codes = list(communities)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = []
        for _ in range(min(BATCH, n - start)):
            code = rng.choice(codes)
            proposal_id, subject = str(uuid.uuid4()), matter(rng, communities[code])
            title, description = wording(rng, subject)
            matters[proposal_id] = (code, subject)
            texts[proposal_id] = (title, description)
            batch.append(Indexed(proposal_id, code, title, description))
        with db.transaction() as session:
            index.add_many(session, batch)
        done = start + len(batch)
        if done % 20_000 == 0 or done == n:
            say(f"  indexed {done:>7,} proposals  {time.perf_counter() - started:6.1f} s")
    return matters, texts, time.perf_counter() - started


def city(rng: random.Random, count: int) -> dict[str, tuple[str, ...]]:
    """``count`` communities of one city, each with 8 places of its own (the vocabulary's, numbered
    apart: 绣春巷 of one community is not another's)."""
    return {
        f"3417020{i // 100:02d}{i % 100 + 1:03d}": tuple(f"{place}{i}区" for place in rng.sample(PLACES, 8))
        for i in range(count)
    }


def sizes(conn, tables: DuplicateTables) -> dict[str, int]:
    return {table.name: conn.scalar(text(f"SELECT pg_total_relation_size('{table.name}')")) for table in tables}


def make_queries(rng: random.Random, matters: dict, communities: dict[str, tuple[str, ...]], lookups: int) -> list:
    """A third reword an indexed matter, a third are fresh matters of the community's places, a third
    about places the index has never seen: (kind, community, title, description, matter, source id)."""
    ids = list(matters)
    codes = list(communities)
    queries = []
    for i in range(lookups):
        kind = ("reworded", "fresh", "unseen place")[i % 3]
        if kind == "reworded":
            source = rng.choice(ids)
            code, subject = matters[source]
        else:
            source, code = None, rng.choice(codes)
            subject = matter(rng, communities[code] if kind == "fresh" else UNSEEN_PLACES)
        queries.append((kind, code, *wording(rng, subject), subject, source))
    return queries


def look_up_all(db: Database, queries: list, look_up) -> tuple[list[float], list[list[str]]]:
    """Each query in its own transaction, timed around the call; (ms per look-up, ids found)."""
    times, found = [], []
    for _kind, code, title, description, _subject, _source in queries:
        with db.transaction() as session:
            t0 = time.perf_counter()
            ids = look_up(session, code, title, description)
            times.append((time.perf_counter() - t0) * 1000)
        found.append(ids)
    return times, found


def recall(queries: list, found: list[list[str]], matters: dict) -> dict[str, list[int]]:
    """By kind: [look-ups, with a suggestion, with one of the same matter, with the reworded one itself]."""
    kinds: dict[str, list[int]] = {}
    for (kind, _code, _t, _d, subject, source), ids in zip(queries, found, strict=True):
        tally = kinds.setdefault(kind, [0, 0, 0, 0])
        tally[0] += 1
        tally[1] += bool(ids)
        tally[2] += any(matters[i][1] == subject for i in ids)
        tally[3] += source is not None and source in ids
    return kinds


def say_recall(kinds: dict[str, list[int]]) -> None:
    for kind, (count, with_match, with_same, with_source) in kinds.items():
        line = f"  {kind:<13} {count:>5} look-ups: {with_match / count:6.1%} with a suggestion"
        if kind != "unseen place":
            line += f", {with_same / count:6.1%} with one of the same matter"
        if kind == "reworded":
            line += f", {with_source / count:6.1%} with the reworded proposal itself"
        say(line)


def say_times(what: str, times: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = (percentile(times, p) for p in (50, 95, 99))
    say(
        f"{what}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(times):.1f} ms, "
        f"mean {statistics.fmean(times):.1f} ms"
    )
    return p50, p95, p99


TRGM = "duplicate_trgm"


def load_trgm(db: Database, texts: dict, matters: dict) -> float:
    """pg_trgm's GIN index over the same proposals' title and description (Decidim's way)."""
    started = time.perf_counter()
    with db.transaction() as session:
        session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        session.execute(
            text(f"CREATE TABLE {TRGM} (proposal_id varchar(36) PRIMARY KEY, community_code varchar(12), body text)")
        )
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor.copy(f"COPY {TRGM} (proposal_id, community_code, body) FROM STDIN") as stream:
            for proposal_id, (title, description) in texts.items():
                stream.write_row([proposal_id, matters[proposal_id][0], f"{title} {description}"])
        session.execute(text(f"CREATE INDEX ix_{TRGM} ON {TRGM} USING gin (body gin_trgm_ops)"))
    return time.perf_counter() - started


def trgm_look_up(session, code: str, title: str, description: str) -> list[str]:
    rows = session.execute(
        text(
            f"SELECT proposal_id FROM {TRGM} WHERE community_code = :c AND body % :q "
            "ORDER BY similarity(body, :q) DESC, proposal_id LIMIT 5"
        ),
        {"c": code, "q": f"{title} {description}"},
    )
    return [row[0] for row in rows]


def run(
    *,
    proposals: int,
    lookups: int,
    database_url: str,
    communities: int = 200,
    trgm_lookups: int = 150,
    seed: int = 20240601,
) -> dict:
    rng = random.Random(seed)
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    figures: dict = {}
    try:
        say(
            f"duplicate look-up benchmark: {proposals:,} proposals in one community (the worst case), then "
            f"{proposals:,} over {communities} communities of a city; {lookups:,} look-ups each; pg_trgm beside "
            f"the first ({trgm_lookups} look-ups); PostgreSQL"
        )
        for case, spread in (("one community", {COMMUNITY: PLACES}), ("a city", city(rng, communities))):
            name = f"xs_dup_{run_id()}"
            db = Database(scratch.create(name), "bench")
            metadata = MetaData()
            tables = duplicate_tables(metadata)
            metadata.create_all(db.engine)
            index = DuplicateIndex(tables)
            say(f"\n[{case}] PostgreSQL {scratch.server_version}, scratch database {name}")
            matters, texts, load_seconds = load(db, index, rng, proposals, spread)
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
                size = sizes(conn, tables)
                chunks = conn.scalar(select(func.count()).select_from(tables.postings))
            queries = make_queries(rng, matters, spread, lookups)

            def ours(session, code, title, description, index=index):
                return [m.proposal_id for m in index.candidates(session, code, title, description)]

            look_up_all(db, queries, ours)  # warm-up: connections, statement compilation, the cache
            times, found = look_up_all(db, queries, ours)
            total = sum(size.values())
            say(
                f"load: {proposals:,} proposals indexed in {load_seconds:.1f} s "
                f"({proposals / load_seconds:,.0f} proposals/s), bursts of {BATCH:,}"
            )
            say(
                f"index: {total / proposals:,.0f} bytes per proposal (goal <= {GOAL_BYTES:,}: "
                f"{'met' if total / proposals <= GOAL_BYTES else 'NOT met'}; "
                + ", ".join(f"{table} {n / proposals:,.0f}" for table, n in size.items())
                + f"), {chunks:,} posting rows"
            )
            p50, p95, p99 = say_times(f"look-up, {lookups:,} candidates() calls (limit 5)", times)
            say(f"goal: p95 <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'NOT met'}")
            kinds = recall(queries, found, matters)
            say_recall(kinds)
            shares: Counter[str] = Counter()
            for (_kind, _code, _t, _d, subject, _source), ids in zip(queries, found, strict=True):
                shares.update(overlap(matters[i][1], subject) for i in ids)
            suggested = sum(shares.values())
            if suggested:
                say(
                    f"  of {suggested:,} suggestions: "
                    + ", ".join(f"{shares[o] / suggested:.1%} {o}" for o in OVERLAPS if shares[o])
                )
            figures[case] = {
                "bytes_per_proposal": total / proposals,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "reworded_found": kinds["reworded"][3] / kinds["reworded"][0],
            }
            record("duplicates", f"look-up p95, {proposals:,} proposals in {case}", p95, "ms", goal=GOAL_P95_MS)
            record("duplicates", f"index per proposal, {case}", total / proposals, "bytes", goal=GOAL_BYTES)
            reworded = kinds["reworded"]
            record("duplicates", f"reworded look-ups with one of the same matter in the top 5, {case}",
                   100 * reworded[2] / reworded[0], "%", goal=GOAL_RECALL, better="higher")  # fmt: skip
            record("duplicates", f"reworded look-ups with the reworded proposal itself in the top 5, {case}",
                   100 * reworded[3] / reworded[0], "%")  # fmt: skip
            if case == "one community" and trgm_lookups:
                seconds = load_trgm(db, texts, matters)
                with db.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(f"VACUUM ANALYZE {TRGM}"))
                    trgm_size = conn.scalar(text(f"SELECT pg_total_relation_size('{TRGM}')"))
                    body = conn.scalar(text(f"SELECT sum(pg_column_size(body)) FROM {TRGM}"))
                few = queries[:trgm_lookups]
                look_up_all(db, few[:10], trgm_look_up)
                trgm_times, trgm_found = look_up_all(db, few, trgm_look_up)
                say(
                    f"pg_trgm (GIN gin_trgm_ops over title and description, `%` then similarity(), limit 5): "
                    f"built in {seconds:.1f} s, {(trgm_size - body) / proposals:,.0f} bytes per proposal besides "
                    f"the texts ({trgm_size / proposals:,.0f} with them)"
                )
                t50, t95, _ = say_times(f"pg_trgm look-up, {len(few)} calls", trgm_times)
                ours_few = recall(few, found[: len(few)], matters)
                theirs = recall(few, trgm_found, matters)
                say_recall(theirs)
                say(
                    f"  side by side on these {len(few)}: the reworded proposal itself found "
                    f"{ours_few['reworded'][3] / ours_few['reworded'][0]:.0%} (ours) vs "
                    f"{theirs['reworded'][3] / theirs['reworded'][0]:.0%} (pg_trgm); p95 {p95:.1f} vs {t95:.1f} ms"
                )
                figures["pg_trgm"] = {"p50_ms": t50, "p95_ms": t95}
                record("duplicates", "pg_trgm look-up p95 beside it, one community", t95, "ms")
                trgm_same = 100 * theirs["reworded"][2] / theirs["reworded"][0]
                record("duplicates", "pg_trgm: reworded look-ups with one of the same matter in the top 5", trgm_same,
                       "%", note=f"{len(few)} look-ups")  # fmt: skip
            db.engine.dispose()
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f} s; scratch databases dropped)")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposals", type=int, default=100_000, help="proposals in the community (100,000)")
    parser.add_argument("--lookups", type=int, default=1_000, help="timed candidates() calls (1,000)")
    parser.add_argument("--communities", type=int, default=200, help="communities of the city case (200)")
    add_database_url(parser)
    args = parser.parse_args(argv)
    if args.proposals <= 0 or args.lookups <= 0:
        parser.error("--proposals and --lookups must be positive")
    run(proposals=args.proposals, lookups=args.lookups, database_url=args.database_url, communities=args.communities)
    return 0


if __name__ == "__main__":
    sys.exit(main())

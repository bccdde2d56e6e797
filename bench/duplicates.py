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
from services.intake.similarity import DuplicateIndex, Indexed, duplicate_tables
from shared.db import Database

COMMUNITY = "341702001001"  # 烟柳园社区 (sample code)
BATCH = 2_000
GOAL_P95_MS = 50.0

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


def load(db: Database, index: DuplicateIndex, rng: random.Random, n: int) -> tuple[dict[str, Matter], dict, float]:
    matters: dict[str, Matter] = {}
    texts: dict[str, tuple[str, str]] = {}
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = []
        for _ in range(min(BATCH, n - start)):
            proposal_id, subject = str(uuid.uuid4()), matter(rng)
            title, description = wording(rng, subject)
            matters[proposal_id] = subject
            texts[proposal_id] = (title, description)
            batch.append(Indexed(proposal_id, COMMUNITY, title, description))
        with db.transaction() as session:
            index.add_many(session, batch)
        done = start + len(batch)
        if done % 20_000 == 0 or done == n:
            say(f"  indexed {done:>7,} proposals  {time.perf_counter() - started:6.1f} s")
    return matters, texts, time.perf_counter() - started


def run(*, proposals: int, lookups: int, database_url: str, seed: int = 20240601) -> dict:
    rng = random.Random(seed)
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    name = f"xs_dup_{run_id()}"
    try:
        url = scratch.create(name)
        db = Database(url, "bench")
        metadata = MetaData()
        tables = duplicate_tables(metadata)
        metadata.create_all(db.engine)
        index = DuplicateIndex(tables)
        say(
            f"duplicate look-up benchmark: {proposals:,} proposals in one community, {lookups:,} look-ups, "
            f"PostgreSQL {scratch.server_version}, scratch database {name}"
        )
        matters, texts, load_seconds = load(db, index, rng, proposals)
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            gram_rows = conn.scalar(select(func.count()).select_from(tables.grams))
            distinct = conn.scalar(select(func.count()).select_from(tables.frequencies))
            size = conn.scalar(text("SELECT pg_size_pretty(pg_total_relation_size('proposal_gram'))"))

        ids = list(matters)
        queries = []  # (kind, title, description, matter, source id)
        for i in range(lookups):
            kind = ("reworded", "fresh", "unseen place")[i % 3]
            if kind == "reworded":
                source = rng.choice(ids)
                subject = matters[source]
            else:
                source = None
                subject = matter(rng, PLACES if kind == "fresh" else UNSEEN_PLACES)
            queries.append((kind, *wording(rng, subject), subject, source))

        def look_up_all() -> tuple[list[float], list[list]]:
            times, found = [], []
            for _kind, title, description, _subject, _source in queries:
                with db.transaction() as session:
                    t0 = time.perf_counter()
                    matches = index.candidates(session, COMMUNITY, title, description)
                    times.append((time.perf_counter() - t0) * 1000)
                found.append(matches)
            return times, found

        look_up_all()  # warm-up
        times, found = look_up_all()
        p50, p95, p99 = (percentile(times, p) for p in (50, 95, 99))

        kinds: dict[str, list[int]] = {}
        shares: Counter[str] = Counter()
        for (kind, _t, _d, subject, source), matches in zip(queries, found, strict=True):
            # look-ups, with a suggestion, with one of the same matter, with the reworded proposal itself
            tally = kinds.setdefault(kind, [0, 0, 0, 0])
            tally[0] += 1
            tally[1] += bool(matches)
            tally[2] += any(matters[m.proposal_id] == subject for m in matches)
            tally[3] += source is not None and any(m.proposal_id == source for m in matches)
            shares.update(overlap(matters[m.proposal_id], subject) for m in matches)

        say()
        say(
            f"load: {proposals:,} proposals indexed in {load_seconds:.1f} s "
            f"({proposals / load_seconds:,.0f} proposals/s, {gram_rows / load_seconds:,.0f} index rows/s), "
            f"transactions of {BATCH:,}"
        )
        say(
            f"index: {gram_rows:,} proposal_gram rows ({gram_rows / proposals:.1f} per proposal, {size} with its "
            f"primary key), {distinct:,} distinct grams in gram_frequency"
        )
        say(
            f"look-up, {lookups:,} candidates() calls (limit 5, threshold {index.threshold}): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(times):.1f} ms, "
            f"mean {statistics.fmean(times):.1f} ms"
        )
        verdict = "met" if p95 <= GOAL_P95_MS else "NOT met"
        say(f"goal: p95 <= {GOAL_P95_MS:.0f} ms: {verdict}")
        for kind, (count, with_match, with_same, with_source) in kinds.items():
            line = f"  {kind:<13} {count:>5} look-ups: {with_match / count:6.1%} with a suggestion"
            if kind != "unseen place":
                line += f", {with_same / count:6.1%} with one of the same matter"
            if kind == "reworded":
                line += f", {with_source / count:6.1%} with the reworded proposal itself"
            say(line)
        suggested = sum(shares.values())
        if suggested:
            say(
                f"  of {suggested:,} suggestions: "
                + ", ".join(f"{shares[name] / suggested:.1%} {name}" for name in OVERLAPS if shares[name])
            )
        sample = next(((q, m) for q, m in zip(queries, found, strict=True) if q[0] == "reworded" and m), None)
        if sample:
            (_kind, title, _description, _subject, _source), matches = sample
            say(f"  e.g. {title!r} → {texts[matches[0].proposal_id][0]!r} (score {matches[0].score:.2f})")
        figures = {
            "proposals": proposals,
            "load_seconds": load_seconds,
            "gram_rows": gram_rows,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
        }
        db.engine.dispose()
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f} s; scratch database dropped)")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposals", type=int, default=100_000, help="proposals in the community (100,000)")
    parser.add_argument("--lookups", type=int, default=1_000, help="timed candidates() calls (1,000)")
    add_database_url(parser)
    args = parser.parse_args(argv)
    if args.proposals <= 0 or args.lookups <= 0:
        parser.error("--proposals and --lookups must be positive")
    run(proposals=args.proposals, lookups=args.lookups, database_url=args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

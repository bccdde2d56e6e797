"""Coverage benchmark: tracking's coverage report and ``/metrics`` scrape at national scale.

``python -m bench --only coverage [--communities N] [--consultations M] [--rounds R]``

On the real PostgreSQL (``XIESHANG_BENCH_DATABASE_URL``) in a scratch database ``xs_coverage_<random>``,
migrated with tracking's Alembic scripts and dropped at the end:

1. load (untimed): a registry of N communities (default 620,000: 31 provinces × 10 cities × 10
   districts × 20 streets × 10 communities, with their streets, districts, cities and provinces)
   and M consultations held (default 5,000,000) over the last 24 months, COPYed into
   ``held_consultation``; a third of the districts lag behind (most of their communities silent).
   The running aggregates are then built in bulk (``repository.rebuild_coverage``, timed for
   information) and the communities per area counted.
2. timed, median of R rounds, through the use cases a route or a scrape calls:
   - the coverage report of the whole country by province, and by district (~3,100 lines);
   - the coverage report of one city (1,000 communities) by district and by street;
   - a ``/metrics`` scrape (``shared.metrics.exposition``, the process's metrics with tracking's domain
     gauges answered from their last reading, ``shared.metrics.Snapshot``), and, for information, one
     reading of the gauges (``CoverageCollector``: every city and district read and rendered), which a
     scrape starts in the background at most every ``XIESHANG_GAUGES_MAX_AGE_SECONDS``;
   - one new consultation counted (``services.held``, its transaction until commit): O(1), the
     same handful of rows whatever the registry's size.

Goals (the tracking issue): the country ≤ 1 s, a city ≤ 50 ms, the scrape ≤ 100 ms, and the
update O(1) (not a rescan). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import psycopg
from sqlalchemy import func, select, text

from bench.infra import ScratchDatabases, add_database_url, run_id
from bench.results import record
from services.tracking import domain, repository, services
from services.tracking.gauges import CoverageCollector
from services.tracking.models import area_months, held_consultations
from shared import metrics
from shared.config import load_settings
from shared.principal import Principal
from xieshang.platform import Platform

NATION = Principal("bench-nation", "system", "")
TODAY = date(2026, 12, 1)
FORMS = ("community_council", "residents_forum", "neighbourhood_point", "owners_meeting", "online")


def _codes(communities: int):
    """Division rows (code, name, level, parent) for about ``communities`` communities."""
    per = {"city": 10, "county": 10, "street": 20, "community": 10}
    provinces = max(1, -(-communities // (10 * 10 * 20 * 10)))
    made = 0
    for p in range(11, 11 + provinces):
        pc = f"{p:02d}"
        yield (pc.ljust(12, "0"), f"省{pc}", "province", None)
        for c in range(1, per["city"] + 1):
            cc = f"{pc}{c:02d}"
            yield (cc.ljust(12, "0"), f"市{cc}", "city", pc.ljust(12, "0"))
            for d in range(1, per["county"] + 1):
                dc = f"{cc}{d:02d}"
                yield (dc.ljust(12, "0"), f"区{dc}", "county", cc.ljust(12, "0"))
                for s in range(1, per["street"] + 1):
                    sc = f"{dc}{s:03d}"
                    yield (sc.ljust(12, "0"), f"街道{sc}", "street", dc.ljust(12, "0"))
                    for k in range(1, per["community"] + 1):
                        if made >= communities:
                            return
                        made += 1
                        yield (f"{sc}{k:03d}", f"社区{sc}{k:03d}", "community", sc.ljust(12, "0"))


def _copy(dsn: str, table: str, columns: list[str], rows) -> int:
    count = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _load(dsn: str, communities: int, consultations: int, rng: random.Random) -> tuple[list[str], int]:
    now = datetime.now(UTC)
    division_rows = list(_codes(communities))
    _copy(dsn, "division", ["code", "name", "level", "parent_code", "source", "active", "updated_at"],
          ((c, n, lv, p, "bench", True, now) for c, n, lv, p in division_rows))  # fmt: skip
    community_codes = [c for c, _, lv, _ in division_rows if lv == "community"]
    lagging = {c[:6] for c in community_codes if int(c[4:6]) % 3 == 0}  # a third of the districts
    active = [c for c in community_codes if c[:6] not in lagging or rng.random() < 0.2]
    start = TODAY - timedelta(days=730)

    def held():
        for n in range(consultations):
            community = active[n % len(active)] if n < len(active) else rng.choice(active)
            day = start + timedelta(days=rng.randrange(730))
            at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
            topics = rng.randint(1, 3)
            yield (str(uuid.UUID(int=rng.getrandbits(128))), community, at, domain.month_index(day),
                   rng.choice(FORMS), rng.randint(5, 40), topics, rng.randint(0, topics), False)  # fmt: skip

    _copy(dsn, "held_consultation", ["consultation_id", "community_code", "held_at", "month", "form", "attendees",
                                     "topics", "resident_topics", "recorded_afterwards"], held())  # fmt: skip
    return community_codes, len(division_rows)


def _median(rounds: int, fn) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT MET"


def run(*, communities: int, consultations: int, rounds: int, database_url: str) -> None:
    rng = random.Random(20261201)
    scratch = ScratchDatabases(database_url)
    name = f"xs_coverage_{run_id()}"
    print(f"coverage benchmark: {communities:,} communities, {consultations:,} consultations, {rounds} rounds, "
          f"scratch database {name}", flush=True)  # fmt: skip
    try:
        url = scratch.create(name)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = load_settings({"XIESHANG_DATA_DIR": data_dir, "XIESHANG_TRACKING_DATABASE_URL": url})
            platform = Platform(settings)
            platform.migrate(["tracking"])
            runtime = platform.runtime("tracking")
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            started = time.perf_counter()
            codes, divisions = _load(dsn, communities, consultations, rng)
            print(f"  loaded {divisions:,} divisions and {consultations:,} consultations in "
                  f"{time.perf_counter() - started:.1f} s (untimed, COPY)", flush=True)  # fmt: skip
            started = time.perf_counter()
            with runtime.unit_of_work() as uow:
                repository.rebuild_coverage(uow.session)
                repository.recount_totals(uow.session)
            with runtime.db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            rebuild = time.perf_counter() - started
            with runtime.db.sessions() as session:
                aggregate_rows = session.scalar(select(func.count()).select_from(area_months))
            print(f"  built the aggregates in bulk in {rebuild:.1f} s ({aggregate_rows:,} area-month rows; "
                  f"for information)", flush=True)  # fmt: skip

            def report(scope: str, digits: int):
                def call():
                    principal = NATION if not scope else Principal("bench", "city_operator", scope)
                    with runtime.unit_of_work() as uow:
                        return services.coverage(uow, principal, scope=scope, level_digits=digits, today=TODAY)

                return call

            city = codes[len(codes) // 2][:4]
            lines = report("", 6)()
            nation = lines[0].figures
            print(f"  the country: {nation.communities:,} communities, {nation.covered:,} covered "
                  f"({float(nation.ratio):.1%}), regularity {float(nation.regularity):.1%}; "
                  f"{len(lines) - 1:,} districts", flush=True)  # fmt: skip
            collector = CoverageCollector(SimpleNamespace(settings=settings, now=lambda: datetime.now(UTC),
                                                          unit_of_work=runtime.unit_of_work))  # fmt: skip
            payload = collector().encode()
            metrics.add_live_collector("bench.coverage", metrics.Snapshot(collector, settings.gauges_max_age))

            def scrape():
                assert b"xieshang_coverage_ratio" in metrics.exposition()[0]

            consultation_ids = iter(range(10**9))

            def one_new_consultation():
                n = next(consultation_ids)
                day = TODAY - timedelta(days=n % 20)
                with runtime.unit_of_work() as uow:
                    services.held(uow, {"consultation_id": f"bench-{n}", "community_code": rng.choice(codes),
                                        "held_at": datetime(day.year, day.month, day.day, 2, tzinfo=UTC),
                                        "month": domain.month_index(day), "form": "community_council",
                                        "attendees": 12, "topics": 2, "resident_topics": 1,
                                        "recorded_afterwards": False})  # fmt: skip

            figures = {
                "country by province": (_median(rounds, report("", 2)), 1.0),
                "country by district": (_median(rounds, report("", 6)), 1.0),
                f"city {city} by district": (_median(rounds, report(city, 6)), 0.05),
                f"city {city} by street": (_median(rounds, report(city, 9)), 0.05),
                "scrape of /metrics": (_median(rounds, scrape), 0.1),
            }
            reading = _median(rounds, collector)
            update = _median(max(rounds, 50), one_new_consultation)
            with runtime.db.sessions() as session:
                held_rows = session.scalar(select(func.count()).select_from(held_consultations))
            print()
            print(f"coverage benchmark: PostgreSQL, {communities:,} communities, {held_rows:,} consultations held")
            for label, (seconds, goal) in figures.items():
                print(f"{label:32} {seconds * 1000:8.1f} ms  goal ≤ {goal * 1000:.0f} ms: {_verdict(seconds, goal)}")
                record("coverage", f"{label}, {communities:,} communities", seconds * 1000, "ms", goal=goal * 1000)
            lines_scraped = payload.count(b"\n")
            print(f"{'a reading of the domain gauges':32} {reading * 1000:8.1f} ms  (in the background, at most every "
                  f"{settings.gauges_max_age:g} s; {len(payload):,} bytes, {lines_scraped:,} lines)")  # fmt: skip
            record("coverage", "a reading of the domain gauges (background)", reading * 1000, "ms",
                   note=f"at most every {settings.gauges_max_age:g} s")  # fmt: skip
            print(f"{'one new consultation counted':32} {update * 1000:8.1f} ms  (median of {max(rounds, 50)}; "
                  f"writes 1 row + 5 areas × 1-3 counters + 1 span: O(1), no rescan)")  # fmt: skip
            record("coverage", "one new consultation counted", update * 1000, "ms", note="O(1): no rescan")
            metrics.remove_live_collector("bench.coverage")
            platform.stop()
    finally:
        scratch.drop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__)
    parser.add_argument("--communities", type=int, default=620_000)
    parser.add_argument("--consultations", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    add_database_url(parser)
    args = parser.parse_args(argv)
    run(communities=args.communities, consultations=args.consultations, rounds=args.rounds,
        database_url=args.database_url)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

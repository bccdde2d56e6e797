"""``python -m bench [--only bus|gateway|submission|duplicates|fanout|coverage] [--events N] [--requests N] [--rounds R]
[--profile] [--results DIR]``: print the bus, gateway, submission, duplicate look-up, notify fan-out and tracking
coverage benchmark figures (all by default, in one run). A run of all of them writes ``bench/results.json`` and
the table ``bench/RESULTS.md`` (``bench/results.py``); ``--results DIR`` writes them elsewhere, also for one."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from bench import bus, coverage, duplicates, fanout, gateway, submission
from bench.infra import add_database_url, settle
from bench.results import RESULTS

BENCHES = ("bus", "gateway", "submission", "duplicates", "fanout", "coverage")


def _positive(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _natural(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or a positive integer")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        choices=BENCHES,
        default=os.environ.get("XIESHANG_BENCH_ONLY") or None,
        help="run one benchmark only (default: $XIESHANG_BENCH_ONLY, else all)",
    )
    parser.add_argument(
        "--events",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_EVENTS", "20000")),
        help="bus: events per phase (default: $XIESHANG_BENCH_EVENTS or 20000)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=3,
        help="rounds of the noisy phases (bus: raw publish, raw consume, relay; gateway: every loaded phase; "
        "fanout: the fan-out and the raw inserts); "
        "medians are reported (default 3)",
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_REQUESTS", "3000")),
        help="gateway: writes and reads per path (direct, gateway), split over the rounds "
        "(default: $XIESHANG_BENCH_REQUESTS or 3000)",
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_THREADS", "8")),
        help="gateway: concurrent client threads (default: $XIESHANG_BENCH_THREADS or 8)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_WORKERS", "2")),
        help="gateway: gunicorn workers of intake-api and of the gateway (default: $XIESHANG_BENCH_WORKERS or 2)",
    )
    parser.add_argument(
        "--latency-requests",
        type=_natural,
        default=_natural(os.environ.get("XIESHANG_BENCH_LATENCY_REQUESTS", "500")),
        help="gateway: requests per kind and path with one client at a time, for the added latency without "
        "queueing; 0 skips that phase (default: $XIESHANG_BENCH_LATENCY_REQUESTS or 500)",
    )
    parser.add_argument(
        "--proposals",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_PROPOSALS", "100000")),
        help="duplicates: proposals in the one community and in the city; submission: proposals of the community "
        "looked up (default: $XIESHANG_BENCH_PROPOSALS or 100000)",
    )
    parser.add_argument(
        "--city",
        type=_positive,
        default=200,
        help="duplicates: communities the city case spreads its proposals over (default 200)",
    )
    parser.add_argument(
        "--lookups",
        type=_positive,
        default=1000,
        help="duplicates: timed look-ups (default 1000)",
    )
    parser.add_argument(
        "--subscribers",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_SUBSCRIBERS", "35000")),
        help="fanout: resident contacts of the announced community (default: $XIESHANG_BENCH_SUBSCRIBERS or 35000)",
    )
    parser.add_argument(
        "--communities",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_COMMUNITIES", "620000")),
        help="coverage: communities in the registry (default: $XIESHANG_BENCH_COMMUNITIES or 620000)",
    )
    parser.add_argument(
        "--consultations",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_CONSULTATIONS", "5000000")),
        help="coverage: consultations held (default: $XIESHANG_BENCH_CONSULTATIONS or 5000000)",
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("XIESHANG_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
        help="RabbitMQ (default: $XIESHANG_BENCH_AMQP_URL)",
    )
    add_database_url(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the figures, profile under cProfile where the time goes (bus: the relay and the inbox "
        "consumer; gateway: the gateway in this process proxying to the running intake-api; fanout: one more "
        "fan-out); slower, and "
        "figures of the profiled runs are not comparable",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder for results.json and RESULTS.md (default: bench/ when every benchmark runs, else none)",
    )
    args = parser.parse_args(argv)
    if args.only not in (None, *BENCHES):
        parser.error(f"--only must be one of {', '.join(BENCHES)}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    def starting(name: str) -> bool:
        """Whether benchmark ``name`` runs; if so, the machine settled first (``bench.infra.settle``)."""
        if args.only not in (None, name):
            return False
        if name != BENCHES[0] and args.only is None:
            print(flush=True)
        print(settle(args.database_url), flush=True)
        return True

    if starting("bus"):
        bus.run(
            events=args.events,
            rounds=args.rounds,
            amqp_url=args.amqp_url,
            database_url=args.database_url,
            profile=args.profile,
        )
    if starting("gateway"):
        gateway.run(
            requests=args.requests,
            rounds=args.rounds,
            threads=args.threads,
            workers=args.workers,
            latency_requests=args.latency_requests,
            amqp_url=args.amqp_url,
            database_url=args.database_url,
            profile=args.profile,
        )
    if starting("submission"):
        submission.run(
            requests=args.requests,
            threads=args.threads,
            workers=args.workers,
            latency_requests=args.latency_requests,
            proposals=args.proposals,
            amqp_url=args.amqp_url,
            database_url=args.database_url,
        )
    if starting("duplicates"):
        duplicates.run(
            proposals=args.proposals, lookups=args.lookups, communities=args.city, database_url=args.database_url
        )
    if starting("fanout"):
        fanout.run(
            subscribers=args.subscribers,
            rounds=args.rounds,
            database_url=args.database_url,
            profile=args.profile,
        )
    if starting("coverage"):
        coverage.run(
            communities=args.communities,
            consultations=args.consultations,
            rounds=args.rounds,
            database_url=args.database_url,
        )
    folder = args.results or (None if args.only else Path(__file__).resolve().parent)
    if folder is not None:
        for path in RESULTS.write(folder):
            print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

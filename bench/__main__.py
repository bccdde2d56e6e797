"""``python -m bench [--events N] [--rounds R] [--profile]``: print the bus benchmark figures."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bench import bus


def _positive(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--events",
        type=_positive,
        default=_positive(os.environ.get("XIESHANG_BENCH_EVENTS", "20000")),
        help="events per phase (default: $XIESHANG_BENCH_EVENTS or 20000)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=3,
        help="rounds of the cheap, noisy phases (raw publish, raw consume, relay); medians are reported (default 3)",
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("XIESHANG_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
        help="RabbitMQ (default: $XIESHANG_BENCH_AMQP_URL)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("XIESHANG_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to connect to for creating the scratch databases "
        "(default: $XIESHANG_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the figures, run the relay and the inbox consumer again under cProfile and print where the "
        "time goes (slower; figures of the profiled runs are not comparable)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    bus.run(
        events=args.events,
        rounds=args.rounds,
        amqp_url=args.amqp_url,
        database_url=args.database_url,
        profile=args.profile,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

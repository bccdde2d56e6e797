"""A probe consumer in its own process, for the kill test.

With ``--pause-after-commit`` it stops between committing an event and acking it (writing a marker
file first), which is where the test kills it with SIGKILL.
"""

import argparse
import time
from pathlib import Path

from shared.bus.consumer import Consumer
from shared.bus.topology import Topology
from shared.db import Database
from tests.support import PROBE_EVENT, probe_tables, record_effect


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--outcomes", required=True, type=Path)
    parser.add_argument("--pause-after-commit", action="store_true")
    args = parser.parse_args()

    topology = Topology(namespace=args.namespace, subscriptions={"probe": [PROBE_EVENT]}, retry_delays=(0.2,))
    db = Database(args.database_url, "probe")
    consumer = Consumer("probe", db, probe_tables, {PROBE_EVENT: record_effect}, topology, args.amqp_url)

    def after_commit(envelope, outcome):
        with args.outcomes.open("a") as fh:
            fh.write(f"{envelope.id} {outcome}\n")
        if args.pause_after_commit:
            time.sleep(600)  # committed, not yet acked: the test kills us here

    consumer.after_commit.append(after_commit)
    consumer.run()


if __name__ == "__main__":
    main()

"""Benchmarks of the platform, run with ``make bench`` (``python -m bench``).

They print figures and ratios and exit 0; they assert nothing about timings. Both need the real
RabbitMQ and PostgreSQL, work in their own scratch databases and their own exchange and queue
names, and remove them when they end. The bus benchmark (``bench.bus``) measures the outbox relay
and the inbox consumer against raw publishing and consuming; the gateway benchmark
(``bench.gateway``) measures intake's write path and a read through the gateway against straight to
intake, with each target in its own process. ``python -m bench --only bus|gateway`` runs one.
"""

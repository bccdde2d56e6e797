"""Benchmarks of the platform, run with ``make bench`` (``python -m bench``).

They print figures and ratios and exit 0; they assert nothing about timings. The bus benchmark
(``bench.bus``) needs the real RabbitMQ and PostgreSQL; it works in its own scratch databases and
its own exchange and queue names and removes them when it ends.
"""

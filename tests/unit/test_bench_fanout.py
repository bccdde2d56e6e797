"""The fan-out benchmark's path (bench/fanout.py) at a tiny size on SQLite: counts, never timings."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.fanout import FanoutBench
from services.notify.models import contacts, notifications, sms_messages, sms_stops


def test_the_announcement_reaches_every_subscriber_as_the_directory_allows(tmp_path):
    bench = FanoutBench(f"sqlite:///{tmp_path / 'notify.db'}", tmp_path / "var", subscribers=50, rounds=1)
    try:
        bench.load()
        with bench.db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(contacts)) == 50
            stopped = session.scalar(select(func.count()).select_from(sms_stops))
        expected = bench.expected
        assert expected.stopped == stopped
        assert len(expected.app) == len(bench.invitees) - 10 + expected.with_app - _app_opt_outs(bench)
        # Every subscriber has sms; those opted out of 'community' or stopped get none (invitees aside).
        assert 0 < len(expected.sms) <= 50

        bench.fan_out()  # raises unless the rows written are the expected ones
        assert (bench.figures.inbox_rows, bench.figures.sms_rows) == (len(expected.app), len(expected.sms))
        written = {table.name: len(rows) for table, rows in bench.written.items()}
        assert written == {"notification": len(expected.app), "sms_message": len(expected.sms)}

        bench.clear()
        bench.same_rows()  # raises unless every row is written again
        bench.clear()
        bench.raw_insert()  # raises unless the 50 prepared rows are written
        with bench.db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(notifications)) == 50
        bench.clear()
        with bench.db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(sms_messages)) == 0
    finally:
        bench.close()


def _app_opt_outs(bench: FanoutBench) -> int:
    """App subscribers who opted out of 'community' and are not invited (invitees hear of it anyway)."""
    with bench.db.sessions() as session:
        rows = session.execute(select(contacts.c.app_user_id, contacts.c.opt_outs)).all()
    invited = set(bench.invitees)
    return sum(1 for who, opt_outs in rows if who and "community" in opt_outs and who not in invited)

"""The fuzzer's own instruments, which would otherwise fail silently: a write watch that saw
nothing would pass every refusal."""

import threading

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert

from tests.fuzz.harness import WriteWatch

metadata = MetaData()
notes = Table("note", metadata, Column("id", Integer, primary_key=True))


def test_the_write_watch_sees_committed_writes_of_its_thread_only(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'watched.db'}")
    metadata.create_all(engine)
    watch = WriteWatch({"svc": engine})

    with watch.request() as committed:
        with engine.begin() as conn:
            conn.execute(insert(notes).values(id=1))
    assert committed == {"svc.note"}

    with watch.request() as rolled_back:
        with engine.connect() as conn:
            conn.execute(insert(notes).values(id=2))
            conn.rollback()
        with engine.begin() as conn:  # the same pooled connection, a new transaction that only reads
            conn.exec_driver_sql("SELECT count(*) FROM note")
    assert rolled_back == set()

    def elsewhere():
        with engine.begin() as conn:
            conn.execute(insert(notes).values(id=3))

    with watch.request() as other_thread:
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
    assert other_thread == set()
    engine.dispose()

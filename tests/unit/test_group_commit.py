"""Group commit (``shared.group_commit``): callers that arrive together share one transaction, and
none returns before its item is committed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.group_commit import GroupCommit
from tests.support import wait_until


class Store:
    """An ``apply`` whose first batch can be held open, as a slow commit would be."""

    def __init__(self):
        self.batches: list[list] = []
        self.committed: list = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail_batch: int | None = None  # the index of the batch that fails

    def __call__(self, items) -> None:
        self.entered.set()
        self.hold.wait(10)
        self.batches.append(list(items))
        if len(self.batches) - 1 == self.fail_batch:
            raise RuntimeError("connection lost")
        self.committed.extend(items)


@pytest.fixture
def store():
    return Store()


def queued(group: GroupCommit) -> int:
    with group._changed:
        return len(group._pending)


def test_a_caller_alone_applies_its_item_at_once(store):
    group = GroupCommit(store)
    group("a")
    group("b")
    assert store.batches == [["a"], ["b"]]


def test_callers_arriving_during_a_commit_share_the_next_one_and_each_returns_once_committed(store):
    group = GroupCommit(store)
    store.hold.clear()
    returned = []
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(lambda: group("first") or returned.append("first"))
        wait_until(store.entered.is_set, what="the first batch under way")
        rest = [pool.submit(lambda i=i: group(i) or returned.append(i)) for i in range(5)]
        wait_until(lambda: queued(group) == 5, what="five callers waiting")
        assert returned == [], "nobody returns before its item is committed"
        store.hold.set()
        for future in [first, *rest]:
            future.result(10)
    assert store.batches[0] == ["first"]
    assert sorted(store.batches[1]) == [0, 1, 2, 3, 4] and len(store.batches) == 2
    assert sorted(store.committed, key=str) == sorted([0, 1, 2, 3, 4, "first"], key=str)
    assert group.batches == 2


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_is_tried_afresh(store):
    group = GroupCommit(store)
    store.hold.clear()
    store.fail_batch = 1  # the three that queue behind the first
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group, "first")
        wait_until(store.entered.is_set, what="the first batch under way")
        doomed = [pool.submit(group, i) for i in range(3)]
        wait_until(lambda: queued(group) == 3, what="three callers waiting")
        store.hold.set()
        assert first.result(10) is None
        for future in doomed:
            with pytest.raises(RuntimeError, match="connection lost"):
                future.result(10)
    assert store.committed == ["first"]
    group("after")
    assert store.committed == ["first", "after"]


def test_a_batch_holds_at_most_max_batch_items_oldest_first(store):
    group = GroupCommit(store, max_batch=2)
    store.hold.clear()
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(group, "first")
        wait_until(store.entered.is_set, what="the first batch under way")
        rest = []
        for i in range(5):
            rest.append(pool.submit(group, i))
            wait_until(lambda n=i + 1: queued(group) == n, what=f"{i + 1} waiting")
        store.hold.set()
        for future in [first, *rest]:
            future.result(10)
    assert store.batches == [["first"], [0, 1], [2, 3], [4]]

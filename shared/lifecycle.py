"""The status lifecycle that proposals, consultations and tasks share: who acts (``Actor``), the
allowed moves (``Lifecycle``, a table of statuses and where each may go), and the history line
every move leaves (``Transition``). Plain values, for domains; the history tables are in
``shared.history``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from shared.principal import Principal
from shared.problems import Conflict

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    id: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.subject, principal.role)

    @classmethod
    def system(cls, service: str) -> Actor:
        """A service acting on an event (meetings' decision moving a proposal, tracking's clock…)."""
        return cls(f"system:{service}", "system")


@dataclass(frozen=True)
class Transition:
    """One line of a history: ``subject_id`` moved from ``from_status`` (None: created) to
    ``to_status``, by whom, why and when."""

    subject_id: str
    from_status: str | None
    to_status: str
    actor_id: str
    actor_role: str
    reason: str | None
    at: datetime


class Lifecycle:
    """The statuses of one kind of thing and the moves between them.

    ``noun`` names the thing in the Chinese messages of refused moves (建议, 协商, 任务);
    ``names`` gives each status its Chinese name.
    """

    def __init__(self, noun: str, transitions: Mapping[str, Iterable[str]], names: Mapping[str, str]):
        self.noun = noun
        self.transitions: Mapping[str, frozenset[str]] = {s: frozenset(to) for s, to in transitions.items()}
        self.names = dict(names)
        unknown = {to for targets in self.transitions.values() for to in targets} - self.transitions.keys()
        missing = self.transitions.keys() - self.names.keys()
        if unknown or missing:
            raise ValueError(f"lifecycle of {noun}: unknown targets {sorted(unknown)}, unnamed {sorted(missing)}")

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(self.transitions)

    def allows(self, status: str, to: str) -> bool:
        return to in self.transitions[status]

    def is_final(self, status: str) -> bool:
        return not self.transitions[status]

    def require(self, status: str, to: str) -> None:
        """Refuse (409, in Chinese) a move the table does not allow."""
        if not self.allows(status, to):
            raise Conflict(f"{self.noun}当前状态为“{self.names[status]}”,不能变为“{self.names[to]}”", status_now=status)

    def require_in(self, status: str, statuses: Iterable[str], doing: str) -> None:
        """Refuse ``doing`` (e.g. 发表意见) unless the status is one of ``statuses``."""
        if status not in statuses:
            raise Conflict(f"{self.noun}当前状态为“{self.names[status]}”,不能{doing}", status_now=status)

    def move(self, subject: T, to: str, actor: Actor, now: datetime, reason: str | None = None,
             **changes: Any) -> tuple[T, Transition]:  # fmt: skip
        """``subject`` (a frozen dataclass with ``id``, ``status`` and ``updated_at``) after moving to
        ``to``, and the history line that records it."""
        status = subject.status  # type: ignore[attr-defined]
        self.require(status, to)
        moved = replace(subject, status=to, updated_at=now, **changes)  # type: ignore[type-var]
        return moved, Transition(subject.id, status, to, actor.id, actor.role, reason, now)  # type: ignore[attr-defined]

    @staticmethod
    def created(subject: Any, actor: Actor, at: datetime, reason: str | None = None) -> Transition:
        """The first line of a history: ``subject`` came into being in its status."""
        return Transition(subject.id, None, subject.status, actor.id, actor.role, reason, at)

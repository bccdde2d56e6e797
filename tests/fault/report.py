"""The per-fault table the fault suite prints at the end of the pytest output, and the soak's lines."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    fault: str
    accepted: int
    lost: int
    duplicated: int
    refused: int  # 503 with Retry-After while the fault lasted
    violations: int  # 5xx other than that, dropped connections, timeouts
    recovery_seconds: float


ROWS: list[Row] = []
SOAK: list[str] = []  # the soak's lines (tests/soak)


def table(rows: list[Row]) -> list[str]:
    head = ("fault", "writes accepted", "lost", "duplicated", "503 + Retry-After", "violations", "recovery s")
    cells = [head] + [
        (r.fault, str(r.accepted), str(r.lost), str(r.duplicated), str(r.refused), str(r.violations),
         f"{r.recovery_seconds:.1f}")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines

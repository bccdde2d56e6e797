"""The division registry (统计用区划代码): communities and the areas above them.

The tracking service owns the registry (it is the denominator of coverage): ``xieshang divisions
load FILE`` upserts a CSV there and publishes ``tracking.divisions.changed`` in batches; every
other service keeps a replica from those events, so each validates community codes and scopes
locally without calling another service. This module is the registry's plain values and file
format; its table, upserts and look-ups are in ``shared.division_registry``.

Codes are 12 digits: 2 province, 2 city, 2 county, 3 street (001-099 街道, 100-199 镇, 200-399 乡,
400+ development zones), 3 community (居委会 usually 001-199, 村委会 200-399).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.vocabulary import DIVISION_LEVELS

REFERENCE_CSV = Path(__file__).parent / "reference" / "divisions_chizhou.csv"
EVENT_TYPE = "tracking.divisions.changed"
BATCH_SIZE = 500
_LEVEL_DIGITS = {"province": 2, "city": 4, "county": 6, "street": 9, "community": 12}


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    parent_code: str | None
    source: str
    active: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class DivisionFileError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("division file rejected:\n" + "\n".join(f"  - {p}" for p in problems[:50]))


def level_of(code: str) -> str:
    """The level a 12-digit code denotes, from where its trailing zeros start."""
    for level, digits in _LEVEL_DIGITS.items():
        if code[digits:].strip("0") == "" and (level == "community" or code[digits:] != ""):
            return level
    return "community"


def expected_parent(code: str, level: str) -> str | None:
    digits = _LEVEL_DIGITS[level]
    parents = [d for lvl, d in _LEVEL_DIGITS.items() if d < digits]
    if not parents:
        return None
    return code[: parents[-1]].ljust(12, "0")


def parse_csv(text: str) -> list[Division]:
    """Parse and check a whole file; any bad row rejects the file, listing every problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    required = {"code", "name", "level", "parent_code", "source"}
    if not reader.fieldnames or not required <= set(reader.fieldnames):
        raise DivisionFileError([f"header must contain {', '.join(sorted(required))}"])
    problems: list[str] = []
    rows: list[Division] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        level = (row.get("level") or "").strip()
        parent = (row.get("parent_code") or "").strip() or None
        active = (row.get("active") or "1").strip().lower() not in {"0", "false", "no"}
        if not (len(code) == 12 and code.isdigit()):
            problems.append(f"line {line}: code {code!r} is not 12 digits")
            continue
        if level not in DIVISION_LEVELS:
            problems.append(f"line {line}: level {level!r} is not one of {', '.join(DIVISION_LEVELS)}")
            continue
        if level_of(code) != level:
            problems.append(f"line {line}: code {code} does not denote a {level}")
        if not name or len(name) > 100:
            problems.append(f"line {line}: name must be 1-100 characters")
        if parent != expected_parent(code, level):
            problems.append(f"line {line}: parent of {code} must be {expected_parent(code, level)}, not {parent}")
        if code in seen:
            problems.append(f"line {line}: code {code} appears twice")
        seen.add(code)
        rows.append(Division(code, name, level, parent, (row.get("source") or "").strip() or "unknown", active))
    if problems:
        raise DivisionFileError(problems)
    return rows


def change_batches(divisions: list[Division]) -> Iterator[dict]:
    """Payloads of ``tracking.divisions.changed``: the registry in parts of ``BATCH_SIZE``."""
    batch_id = str(uuid.uuid4())
    parts = max(1, -(-len(divisions) // BATCH_SIZE))
    for index in range(parts):
        chunk = divisions[index * BATCH_SIZE : (index + 1) * BATCH_SIZE]
        yield {"batch_id": batch_id, "part": index + 1, "parts": parts, "divisions": [d.to_dict() for d in chunk]}


def from_payload(payload: dict) -> list[Division]:
    return [Division(**record) for record in payload["divisions"]]

#!/usr/bin/env python3
"""Build shared/reference/divisions_chizhou.csv (池州市, city code 3417).

Reads the NBS 2023 division files (provinces/cities/areas/streets.csv as compiled by
modood/Administrative-divisions-of-China, WTFPL) and writes one CSV with every code padded
to 12 digits, plus a handful of clearly marked sample communities (source=sample).

Standard library only; output is deterministic (sorted by code, fixed line endings).

Usage (from the repo root):
    python shared/reference/build_divisions.py [SOURCE_DIR] [-o OUTPUT]
SOURCE_DIR defaults to ../shared/data/divisions relative to the repo root.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "divisions"
DEFAULT_OUTPUT = HERE / "divisions_chizhou.csv"

PROVINCE = "34"  # 安徽省
CITY = "3417"  # 池州市
OFFICIAL = "nbs-2023"
SAMPLE = "sample"
HEADER = ["code", "name", "level", "parent_code", "source"]

# Invented communities/villages (NOT official). 池阳街道 has 4 communities per the 2018 report,
# which names only 烟柳园社区; the other names here are samples. 12-digit codes.
SAMPLE_COMMUNITIES: list[tuple[str, str]] = [
    ("341702001001", "烟柳园社区"),
    ("341702001002", "西街社区"),
    ("341702001003", "红光社区"),
    ("341702001004", "杏花社区"),
    ("341702002001", "秋浦社区"),
    ("341702002002", "长江社区"),
    ("341721100001", "尧渡社区"),
    ("341721100201", "建新村"),  # 村委会 range 200-399
]


def pad12(code: str) -> str:
    """Right-pad a 2/4/6/9-digit division code with zeros to the 12-digit form."""
    code = code.strip()
    if not code.isdigit() or len(code) not in (2, 4, 6, 9, 12):
        raise ValueError(f"bad division code: {code!r}")
    return code.ljust(12, "0")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _row(code: str, name: str, level: str, parent: str, source: str = OFFICIAL) -> dict[str, str]:
    return {
        "code": pad12(code),
        "name": name,
        "level": level,
        "parent_code": pad12(parent) if parent else "",
        "source": source,
    }


def build(source: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    provinces = [r for r in read_rows(source / "provinces.csv") if r["code"] == PROVINCE]
    cities = [r for r in read_rows(source / "cities.csv") if r["code"] == CITY]
    if len(provinces) != 1 or len(cities) != 1:
        raise SystemExit(f"expected exactly one province {PROVINCE} and city {CITY} in {source}")
    areas = [r for r in read_rows(source / "areas.csv") if r["cityCode"] == CITY]
    streets = [r for r in read_rows(source / "streets.csv") if r["cityCode"] == CITY]
    if not areas or not streets:
        raise SystemExit(f"no counties or streets for city {CITY} in {source}")

    p, c = provinces[0], cities[0]
    rows.append(_row(p["code"], p["name"], "province", ""))
    rows.append(_row(c["code"], c["name"], "city", c["provinceCode"]))
    rows.extend(_row(a["code"], a["name"], "county", a["cityCode"]) for a in areas)
    rows.extend(_row(s["code"], s["name"], "street", s["areaCode"]) for s in streets)

    street_codes = {pad12(s["code"]) for s in streets}
    for code, name in SAMPLE_COMMUNITIES:
        parent = pad12(code[:9])
        if parent not in street_codes:
            raise SystemExit(f"sample community {code} has no parent street {parent}")
        rows.append(_row(code, name, "community", parent, SAMPLE))

    rows.sort(key=lambda r: r["code"])
    codes = [r["code"] for r in rows]
    if len(codes) != len(set(codes)):
        raise SystemExit("duplicate codes in output")
    return rows


def write(rows: list[dict[str, str]], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"directory with provinces/cities/areas/streets.csv (default: {DEFAULT_SOURCE})",
    )
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"output CSV (default: {DEFAULT_OUTPUT})")
    args = ap.parse_args(argv)
    rows = build(args.source)
    write(rows, args.output)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    print(
        f"wrote {len(rows)} rows to {args.output}: " + ", ".join(f"{k}={v}" for k, v in counts.items()),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

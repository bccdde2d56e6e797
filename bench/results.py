"""The figures of one ``python -m bench`` run, each beside its goal, gathered for
``bench/results.json`` and the table ``bench/RESULTS.md``.

A benchmark still prints as it goes; what it reports it also ``record``s here (value, unit, the
goal and which way is better). ``write`` adds what the figures depend on: the commit, the machine
(cores, memory, load average and the reference loop ``infra.pace`` before and after) and the PostgreSQL
and RabbitMQ versions.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.infra import group_processes, pace

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    value: float
    unit: str
    goal: float | None = None
    better: str = "lower"  # or "higher": which side of the goal meets it
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value <= self.goal if self.better == "lower" else self.value >= self.goal


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    pace_before: float = field(default_factory=pace)

    def record(self, bench: str, name: str, value: float, unit: str, *, goal: float | None = None,
               better: str = "lower", note: str = "") -> None:  # fmt: skip
        if better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
        self.figures.append(Figure(bench, name, float(value), unit, goal, better, note))

    def peak_memory(self, bench: str, peaks: dict[str, int]) -> None:
        """Peak resident memory of each process (bytes, the kernel's VmHWM), as MiB figures."""
        for target, peak in peaks.items():
            self.record(bench, f"peak memory of {target}", peak / 2**20, "MiB")

    def document(self) -> dict:
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "machine": {
                "cores": os.cpu_count(),
                "memory_gib": round(_memory_bytes() / 2**30, 1),
                "python": platform.python_version(),
                "load_average_before": round(self.load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
                "reference_loop_ms_before": round(self.pace_before, 1),
                "reference_loop_ms_after": round(pace(), 1),
                **self.versions,
            },
            "figures": [{**asdict(f), "met": f.met} for f in self.figures],
        }

    def markdown(self, document: dict) -> str:
        machine = document["machine"]
        lines = [
            "# Benchmark results",
            "",
            f"`make bench` at {document['when']} on commit `{document['commit']}`: {machine['cores']} cores, "
            f"{machine['memory_gib']} GiB, Python {machine['python']}"
            + "".join(f", {k} {v}" for k, v in machine.items() if k.endswith("_version"))
            + f"; 1-minute load average {machine['load_average_before']} before, {machine['load_average_after']} "
            f"after; reference loop (`bench.infra.pace`) {machine['reference_loop_ms_before']} ms before, "
            f"{machine['reference_loop_ms_after']} ms after. Written by `bench/results.py`; the figures are "
            "measured, never asserted.",
            "",
            "| benchmark | figure | measured | goal | |",
            "|---|---|---:|---|---|",
        ]
        for f in self.figures:
            goal = "" if f.goal is None else f"{'≤' if f.better == 'lower' else '≥'} {_number(f.goal)} {f.unit}"
            verdict = {None: "", True: "met", False: "**not met**"}[f.met]
            figure = f.name + (f" ({f.note})" if f.note else "")
            lines.append(f"| {f.bench} | {figure} | {_number(f.value)} {f.unit} | {goal} | {verdict} |")
        return "\n".join(lines) + "\n"

    def write(self, folder: Path = FOLDER) -> tuple[Path, Path]:
        document = self.document()
        as_json, as_table = folder / "results.json", folder / "RESULTS.md"
        folder.mkdir(parents=True, exist_ok=True)
        as_json.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        as_table.write_text(self.markdown(document), encoding="utf-8")
        return as_json, as_table


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _commit() -> str:
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=FOLDER, capture_output=True,
                               text=True, timeout=5, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip()


def _memory_bytes() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss(pgid: int) -> int:
    """The largest peak resident memory (VmHWM, bytes) among the live processes of group ``pgid``:
    a gunicorn master's workers are measured one by one, the largest one reported."""
    peak = 0
    for pid, _ in group_processes(pgid):
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            continue  # gone meanwhile
    return peak


RESULTS = Results()
record = RESULTS.record

"""Draw the README's chart: coverage by district against the target, from a real Prometheus's range
query over the scenario of tests/integration/test_prometheus.py.

    XIESHANG_CHART_DATA=docs/coverage-by-district.json .venv/bin/pytest tests/integration/test_prometheus.py
    .venv/bin/python docs/coverage_chart.py      # needs matplotlib: pip install -e '.[chart]'

writes docs/coverage-by-district.png from docs/coverage-by-district.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
NAMES = {"341702": "341702 Guichi", "341721": "341721 Dongzhi"}  # the sample registry's districts


def main(source: Path = HERE / "coverage-by-district.json", target: Path = HERE / "coverage-by-district.png") -> None:
    data = json.loads(source.read_text(encoding="utf-8"))
    start = data["start"]
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    for area, points in sorted(data["coverage"].items()):
        axes.step([t - start for t, _ in points], [v for _, v in points], where="post", linewidth=2,
                  label=NAMES.get(area, area))  # fmt: skip
    axes.axhline(data["target"], color="crimson", linestyle="--", linewidth=1.5, label=f"target {data['target']:.0%}")
    axes.set_ylim(-0.02, 1.05)
    axes.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axes.set_xlabel("seconds into the scenario")
    axes.set_ylabel("communities covered")
    axes.set_title("Coverage by district against the target (area:xieshang_coverage_ratio:max)", fontsize=11)
    axes.grid(alpha=0.3)
    axes.legend(loc="center right")
    figure.tight_layout()
    figure.savefig(target)
    print(target)


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:3]))

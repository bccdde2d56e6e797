"""``xieshang coverage report``: the operator's coverage table in the terminal and as CSV, from
tracking's running aggregates (the figures of the coverage API), without Grafana."""

import csv
from datetime import UTC, datetime, timedelta

import pytest

from services.tracking import domain, services
from tests.conftest import XIJIE, YANLIUYUAN
from xieshang.cli import main


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_COVERAGE_TARGET": "0.9", "XIESHANG_COVERAGE_DEADLINE": "2099-12-31"}


def held(consultation_id: str, community: str, at: datetime) -> dict:
    return {"consultation_id": consultation_id, "community_code": community, "held_at": at,
            "month": domain.month_index(domain.beijing_date(at)), "form": "community_council", "attendees": 12,
            "topics": 2, "resident_topics": 1, "recorded_afterwards": True}  # fmt: skip


def test_the_report_gives_districts_by_figures_with_the_target_and_a_csv(platform, with_divisions, env, tmp_path,
                                                                         monkeypatch, capsys):  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    now = datetime.now(UTC)
    with platform.runtime("tracking").unit_of_work() as uow:
        services.held(uow, held("c-1", YANLIUYUAN, now - timedelta(days=3)))
        services.held(uow, held("c-2", XIJIE, now - timedelta(days=2)))
    out = tmp_path / "coverage.csv"

    assert main(["coverage", "report", "--scope", "3417", "--csv", str(out)]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert "目标 90% 于 2099-12-31" in printed[0]
    assert printed[1].split()[:5] == ["区划代码", "名称", "社区数", "已覆盖", "覆盖率"]
    rows = {line.split()[0]: line.split() for line in printed[2:-1]}
    assert rows["3417"][1:5] == ["池州市", "8", "2", "25.0%"]
    assert rows["341702"][1:5] == ["贵池区", "6", "2", "33.3%"]
    assert rows["341721"][1:5] == ["东至县", "2", "0", "0.0%"]
    with out.open(encoding="utf-8") as written:
        table = {row["区划代码"]: row for row in csv.DictReader(written)}
    guichi = table["341702"]
    assert (guichi["覆盖率"], guichi["已覆盖"], guichi["居民议题占比"]) == ("0.3333", "2", "0.5")
    assert guichi["target_ratio"] == "0.9"
    assert guichi["预计全覆盖"]  # 4 missing at 2 per three months
    assert guichi["按期达标"] == "是" and table["341721"]["按期达标"] == "否"


def test_a_scope_that_is_no_division_prefix_is_refused(platform, env, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["coverage", "report", "--scope", "34170"]) == 2
    assert "范围" in capsys.readouterr().err

"""The recording and alert rules (deploy/prometheus/rules/) are valid and behave as their promtool
unit tests (deploy/prometheus/tests/) say."""

import re

import pytest

from tests.prometheus import RULE_TESTS, RULES, promtool

RULE_FILES = sorted(RULES.glob("*.yml"))


def test_promtool_finds_the_rules_valid_and_clean():
    checked = promtool("check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda path: path.name)
def test_the_rules_pass_their_unit_tests(rules):
    tests = RULE_TESTS / f"{rules.stem}.test.yml"
    assert tests.exists(), f"{rules.name} has no promtool unit tests ({tests.name})"
    ran = promtool("test", "rules", str(tests))
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_every_alert_is_exercised_by_a_unit_test():
    alerts = {name for path in RULE_FILES for name in re.findall(r"- alert: (\w+)", path.read_text(encoding="utf-8"))}
    tested = {
        name
        for path in RULE_TESTS.glob("*.test.yml")
        for name in re.findall(r"alertname: (\w+)", path.read_text(encoding="utf-8"))
    }
    untested = alerts - tested
    assert not untested, f"alerts without a promtool test: {sorted(untested)}"

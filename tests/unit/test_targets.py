import pytest

from shared.config import SERVICES
from xieshang.targets import MODULES, resolve


def test_all_is_the_union_of_every_module_with_the_gateway_last():
    names = [m.name for m in resolve("all")]
    expected = {f"{s}-{part}" for s in SERVICES for part in ("api", "worker")}
    assert set(names[:-1]) == expected
    assert names[-1] == "all"


def test_single_targets_run_one_part():
    assert [m.name for m in resolve("intake-api")] == ["intake-api"]
    assert [m.name for m in resolve("notify-worker")] == ["notify-worker"]


def test_unknown_target_is_refused_with_the_choices():
    with pytest.raises(KeyError) as caught:
        resolve("everything")
    assert "intake-api" in str(caught.value)


def test_every_api_target_serves_http_and_workers_do_not():
    for name, module in MODULES.items():
        assert module.serves_http == (not name.endswith("-worker")), name

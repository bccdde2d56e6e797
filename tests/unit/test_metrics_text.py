"""Gauges rendered straight to the Prometheus text format parse back as what they say."""

from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import gauge_text, labels_text


def test_gauge_text_parses_back_with_its_labels_values_and_help():
    odd = 'a "quoted" back\\slash\nnewline'
    text = gauge_text(
        "xieshang_example_ratio",
        "An example\nwith a newline",
        [
            (labels_text({"level": "district", "area": "341702"}), 0.25),
            (labels_text({"level": odd, "area": "1"}), 3),
            ("", 1),
        ],
    )
    (family,) = text_string_to_metric_families(text)
    assert family.name == "xieshang_example_ratio" and family.type == "gauge"
    assert family.documentation == "An example\nwith a newline"
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"level": "district", "area": "341702"}, 0.25),
        ({"level": odd, "area": "1"}, 3.0),
        ({}, 1.0),
    ]

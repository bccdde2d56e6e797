"""The hostile inputs whose fate depends on the database, on PostgreSQL and RabbitMQ: text PostgreSQL
rejects (NUL, lone surrogates) is refused with a 422 before it reaches the driver, and searches treat
LIKE wildcards as characters there too (PostgreSQL's LIKE escapes differ from SQLite's). The tests
are the embedded default's own (``tests/unit/test_hostile_input.py``), run here with the integration
environment."""

from tests.unit.test_hostile_input import (  # noqa: F401 - collected here with PostgreSQL's env
    resident,
    test_small_inconsistencies_like_wildcards_match_themselves,
    test_text_forbidden_characters_are_refused_in_keys_queries_forms_and_paths,
    test_text_one_line_fields_fold_line_breaks_and_many_lines_keep_them,
    test_text_the_database_or_encoder_rejects_is_refused_with_a_422,
    worker,
)

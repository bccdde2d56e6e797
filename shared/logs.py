"""Structured JSON logs on stderr, one object per line, with request and correlation ids.

No personal number or e-mail address reaches a log line, whatever code logged it: the message, the
text fields of ``extra`` and the traceback pass through ``shared.redaction.redact`` (a title or a
validation error quoting a resident's text is logged with ``[已隐去]`` in place of the number).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from shared import context
from shared.redaction import redact

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str | None = None):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if self.service:
            entry["service"] = self.service
        for key, var in (
            ("request_id", context.request_id),
            ("correlation_id", context.correlation_id),
            ("event_id", context.event_id),
        ):
            value = var.get()
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", service: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries log connection chatter at INFO; keep them to warnings.
    for noisy in ("amqp", "kombu", "werkzeug", "alembic", "gunicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))

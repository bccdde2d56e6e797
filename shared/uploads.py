"""Uploaded CSV files, as every import route takes them: a ``text/csv`` body, a multipart field
``file``, or a JSON body ``{"csv": "..."}``; UTF-8, with or without a byte-order mark."""

from __future__ import annotations

import csv
import io

from flask import request

from shared.problems import BadRequest, Invalid, UnsupportedMediaType

# The OpenAPI request body of an import route (``@blp.doc(requestBody=CSV_BODY)``).
CSV_BODY = {
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    }
}


def csv_text() -> str:
    """The CSV text of the current request."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("请在表单字段file中上传CSV文件", field="file")
        raw = upload.read()
    elif request.mimetype in ("text/csv", "text/plain", "application/csv"):
        raw = request.get_data()
    elif request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("csv"), str):
            raise BadRequest('JSON请求须为{"csv": "CSV文本"}', field="csv")
        return body["csv"]
    else:
        raise UnsupportedMediaType("请以text/csv正文或multipart表单字段file上传CSV文件")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("CSV文件须为UTF-8编码") from None


def csv_rows(text: str, required: set[str]) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV text with a header naming at least ``required``."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise Invalid(f"CSV表头缺少列:{', '.join(sorted(missing))}", field="header")
        return [(line, {k: (v or "").strip() for k, v in row.items() if k}) for line, row in enumerate(reader, start=2)]
    except csv.Error as broken:
        raise Invalid(f"CSV文件格式有误(第{reader.line_num}行):{broken}", field="file") from None

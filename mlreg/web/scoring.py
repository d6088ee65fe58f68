"""MLflow's scoring protocol (SPEC §12): the bodies MLflow's model server takes, read as
mlreg's own predict input, so that a caller written for MLflow calls mlreg unchanged.

- ``{"dataframe_split": {"columns": [...], "data": [[...]]}}`` (pandas' ``split`` orient)
- ``{"dataframe_records": [{"col": value, ...}, ...]}`` (pandas' ``records`` orient)
- ``{"instances": [...]}`` (TensorFlow Serving's row format)
- ``{"inputs": ...}``: rows (mlreg's own form), or columns ``{"col": [values]}``
- ``text/csv`` with a header row

Columns named in the body become rows keyed by feature name for a model that records
its feature names, and plain rows (in the body's column order) for one that does not,
as CSV does (``inputs.Table``).
"""

from __future__ import annotations

from typing import Any

from ..errors import BadInput
from ..inputs import Table, parse_csv

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def payload(body: bytes, content_type: str) -> tuple[Any, str]:
    """The predict input a request body holds, in any of the forms above or mlreg's own,
    and the method it names (``"method"``, default ``predict``).

    Raises:
        BadInput: naming what is wrong.
    """
    from .http import parse_json

    if not body:
        raise BadInput('send a JSON body: {"inputs": [[...]]} (or MLflow\'s dataframe_split, dataframe_records, '
                       "instances), or CSV with a header row as text/csv")
    if content_type.split(";")[0].strip().lower() == "text/csv":
        try:
            return parse_csv(body.decode("utf-8")), "predict"
        except UnicodeDecodeError:
            raise BadInput("the CSV body is not UTF-8 text") from None
    try:
        data = parse_json(body)
    except ValueError as e:
        raise BadInput(str(e)) from None
    method = data.get("method", "predict") if isinstance(data, dict) else "predict"
    if not isinstance(method, str):
        raise BadInput('"method" must be a string')
    return from_mlflow(data), method


def from_mlflow(data: Any) -> Any:
    """``data`` as mlreg's predict input: MLflow's forms translated (their rows, or a
    ``Table`` of named columns), anything else as it is."""
    if not isinstance(data, dict):
        return data
    found = [k for k in ("dataframe_split", "dataframe_records", "instances") if k in data]
    if len(found) + ("inputs" in data) > 1:
        raise BadInput(f"send one of {', '.join(MLFLOW_KEYS)}, not several")
    if not found:
        inputs = data.get("inputs")
        if isinstance(inputs, dict):  # columns: {"col": [values, ...]}
            return _columns(inputs)
        return data
    key = found[0]
    value = data[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise BadInput('dataframe_split needs {"columns": [...], "data": [[...], ...]}')
        rows = value["data"]
        columns = value.get("columns")
        if columns is None:
            return rows
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadInput("dataframe_split's columns must be a list of names")
        return _table(columns, rows, "dataframe_split")
    if key == "dataframe_records":
        if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
            raise BadInput('dataframe_records needs a list of objects: [{"column": value, ...}, ...]')
        columns = list(value[0])
        if any(list(r) != columns and set(r) != set(columns) for r in value):
            raise BadInput("dataframe_records: every record needs the same columns")
        return _table(columns, [[r[c] for c in columns] for r in value], "dataframe_records")
    if isinstance(value, dict):
        return _columns(value)
    return value


def _columns(columns: dict[str, Any]) -> Table:
    values = list(columns.values())
    if not values or not all(isinstance(v, list) for v in values) or len({len(v) for v in values}) != 1:
        raise BadInput('columns need a list of values each, all of one length: {"column": [values, ...]}')
    return _table(list(columns), [list(row) for row in zip(*values)], "inputs")


def _table(columns: list[str], rows: Any, what: str) -> Table:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and len(r) == len(columns) for r in rows):
        raise BadInput(f"{what}: every row needs one value per column ({len(columns)})")
    return Table([str(c) for c in columns], rows)

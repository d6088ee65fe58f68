"""Turn prediction input (JSON) into what a model's methods take.

Accepted: a list of rows (``[[5.1, 3.5, 1.4, 0.2]]``), ``{"inputs": [...]}``,
a list of strings for text pipelines, and a list of objects keyed by feature
name when the model knows its feature names. numpy is imported only when the
input is converted, never at CLI start-up.
"""

from __future__ import annotations

from typing import Any

from .errors import BadInput


def rows_of(payload: Any) -> list:
    """The list of rows in a predict payload.

    Raises:
        BadInput: neither a list nor ``{"inputs": [...]}``, or empty.
    """
    if isinstance(payload, dict):
        if "inputs" not in payload:
            raise BadInput('input must be a JSON list of rows or {"inputs": [...]}')
        payload = payload["inputs"]
    if not isinstance(payload, list):
        raise BadInput(f'input must be a JSON list of rows or {{"inputs": [...]}}, not {type(payload).__name__}')
    if not payload:
        raise BadInput("input holds no rows")
    return payload


def to_model_input(payload: Any, model: Any) -> Any:
    """Convert a predict payload for ``model``.

    Raises:
        BadInput: with what the model expects (e.g. "expects 4 features, got 3").
    """
    rows = rows_of(payload)
    names = getattr(model, "feature_names_in_", None)
    expected = getattr(model, "n_features_in_", None)
    if all(isinstance(row, dict) for row in rows):
        if names is None:
            raise BadInput("rows keyed by feature name need a model that records its feature names; send lists of values")
        names = [str(n) for n in names]
        for i, row in enumerate(rows):
            missing = [n for n in names if n not in row]
            if missing:
                raise BadInput(f"row {i} lacks feature(s) {', '.join(missing)}; the model expects {', '.join(names)}")
        try:
            import pandas
        except ImportError:
            raise BadInput("rows keyed by feature name need pandas: pip install 'mlreg[pandas]'") from None
        return pandas.DataFrame([[row[n] for n in names] for row in rows], columns=names)
    if all(isinstance(row, str) for row in rows):
        return rows
    import numpy

    if not all(isinstance(row, list) for row in rows):
        raise BadInput("input must be a list of rows, each a list of values (e.g. [[5.1, 3.5, 1.4, 0.2]])")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise BadInput(f"rows have different lengths ({', '.join(map(str, sorted(widths)))})")
    width = widths.pop()
    if expected is not None and width != int(expected):
        raise BadInput(f"the model expects {int(expected)} features, got {width}")
    values = [v for row in rows for v in row]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return numpy.asarray(rows, dtype=float)
    if names is not None:
        try:
            import pandas
        except ImportError:
            pandas = None
        if pandas is not None:
            return pandas.DataFrame(rows, columns=[str(n) for n in names])
    bad = next(v for v in values if not (isinstance(v, (int, float)) and not isinstance(v, bool)))
    raise BadInput(f"the model expects numbers, got {bad!r}")

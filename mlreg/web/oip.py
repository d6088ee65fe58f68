"""The Open Inference Protocol (KServe V2) over REST, with the binary tensor extension
(SPEC §12): what Triton's and KServe's clients send, read as mlreg's predict input,
and the answer written back as tensors.

A request carries one input tensor of shape ``[N, n_features]``, or one tensor per
feature, named by the model's feature names (shape ``[N]`` or ``[N, 1]``). Its data is
JSON (``"data"``, flat in row-major order or nested), or binary: little-endian values
after the JSON header, whose length ``Inference-Header-Content-Length`` gives, each
input's size in its ``binary_data_size`` parameter (BYTES: 4-byte length-prefixed
strings). Outputs are methods of the model (``predict`` by default; ``predict_proba``
and the others ``predict --method`` offers), each answered as JSON or, when asked
(``binary_data`` per output, ``binary_data_output`` for all), as binary after the JSON.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from ..errors import BadInput
from ..inputs import Table

# datatype -> (struct code of one value, bytes a value)
_BINARY = {"BOOL": ("?", 1), "UINT8": ("B", 1), "UINT16": ("H", 2), "UINT32": ("I", 4), "UINT64": ("Q", 8),
           "INT8": ("b", 1), "INT16": ("h", 2), "INT32": ("i", 4), "INT64": ("q", 8), "FP16": ("e", 2),
           "FP32": ("f", 4), "FP64": ("d", 8)}
DATATYPES = (*_BINARY, "BYTES")
HEADER = "Inference-Header-Content-Length"
MAX_TENSORS = 4096  # inputs or outputs in one request: far past any model's features


def read_request(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The inference request's JSON, each input's ``data`` read (from the binary part where
    it is there) as a flat list of Python values.

    Raises:
        BadInput: naming what is wrong.
    """
    from .http import parse_json

    length = headers.get(HEADER.lower())
    if length is not None:
        if not (length.isascii() and length.strip().isdigit()) or int(length) > len(body):
            raise BadInput(f"{HEADER} must be the length of the JSON at the body's start")
        head, binary = body[:int(length)], body[int(length):]
    else:
        head, binary = body, b""
    try:
        request = parse_json(head)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise BadInput('an inference request is a JSON object with "inputs": [{"name", "shape", "datatype", "data"}]')
    if len(request["inputs"]) > MAX_TENSORS:
        raise BadInput(f"at most {MAX_TENSORS} inputs")
    at = 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadInput('each input needs "name", "shape", "datatype" and "data"')
        shape, datatype = tensor.get("shape"), tensor.get("datatype")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise BadInput(f"input {tensor['name']!r}: shape must be a list of sizes")
        if datatype not in DATATYPES:
            raise BadInput(f"input {tensor['name']!r}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
        count = 1
        for d in shape:
            count *= d
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or at + size > len(binary):
                raise BadInput(f"input {tensor['name']!r}: binary_data_size runs past the body")
            tensor["data"] = _unpack(binary[at:at + size], datatype, count, tensor["name"])
            at += size
        else:
            tensor["data"] = _flat(tensor.get("data"), tensor["name"])
        if len(tensor["data"]) != count:
            raise BadInput(f"input {tensor['name']!r}: shape {shape} holds {count} values, the data "
                           f"{len(tensor['data'])}")
    return request


def _unpack(data: bytes, datatype: str, count: int, name: str) -> list[Any]:
    if datatype == "BYTES":
        found, at = [], 0
        while at < len(data):
            if at + 4 > len(data):
                raise BadInput(f"input {name!r}: a BYTES element's length is cut off")
            (n,) = struct.unpack_from("<I", data, at)
            if at + 4 + n > len(data):
                raise BadInput(f"input {name!r}: a BYTES element runs past its data")
            found.append(data[at + 4:at + 4 + n].decode("utf-8", "replace"))
            at += 4 + n
        return found
    code, width = _BINARY[datatype]
    if len(data) != count * width:
        raise BadInput(f"input {name!r}: {len(data)} bytes of {datatype} are not {count} values")
    return list(struct.unpack(f"<{count}{code}", data))


def _flat(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise BadInput(f"input {name!r}: data must be a list (or sent as binary)")
    found: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            found.append(item)
        else:
            stack.pop()
    return found


def model_input(request: dict[str, Any]) -> Any:
    """The request's inputs as mlreg's predict input: rows of one ``[N, n_features]``
    tensor, or a ``Table`` of one tensor per feature name.

    Raises:
        BadInput: shapes that are neither.
    """
    inputs = request["inputs"]
    if len(inputs) == 1 and len(inputs[0]["shape"]) == 2:
        rows, width = inputs[0]["shape"]
        data = inputs[0]["data"]
        return [data[i * width:(i + 1) * width] for i in range(rows)]
    shapes = {tuple(t["shape"]) for t in inputs}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (1, 2) or (len(next(iter(shapes))) == 2 and
                                                                        next(iter(shapes))[1] != 1):
        raise BadInput("send one input of shape [N, n_features], or one input per feature (its name) of shape "
                       "[N] or [N, 1], all of one N")
    n = next(iter(shapes))[0]
    return Table([t["name"] for t in inputs], [[t["data"][i] for t in inputs] for i in range(n)])


def outputs_asked(request: dict[str, Any]) -> list[tuple[str, bool]]:
    """(method, binary) of each output the request names (``predict`` when none)."""
    binary_all = bool((request.get("parameters") or {}).get("binary_data_output"))
    asked = request.get("outputs")
    if asked is None:
        return [("predict", binary_all)]
    if not isinstance(asked, list) or not asked or len(asked) > MAX_TENSORS or \
            not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
        raise BadInput('outputs must be a list of {"name": METHOD}')
    return [(o["name"], bool((o.get("parameters") or {}).get("binary_data", binary_all))) for o in asked]


def datatype_of(value: Any) -> str:
    """The datatype of a NumPy array's values (BYTES for text and anything else)."""
    kind, size = getattr(getattr(value, "dtype", None), "kind", "O"), getattr(getattr(value, "dtype", None),
                                                                              "itemsize", 0)
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'U' if kind == 'u' else ''}INT{size * 8}"
    if kind == "f":
        return {2: "FP16", 4: "FP32"}.get(size, "FP64")
    return "BYTES"


def response(model: str, version: str, request_id: Any, results: list[tuple[str, bool, Any]]) -> tuple[bytes, dict[str, str]]:
    """The inference response's body and headers: ``results`` is (output name, binary,
    the method's answer) of each output."""
    import numpy

    outputs, binary = [], []
    for name, as_binary, value in results:
        array = numpy.asarray(value)
        datatype = datatype_of(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if as_binary:
            data = _pack(array, datatype)
            entry["parameters"] = {"binary_data_size": len(data)}
            binary.append(data)
        else:
            from ..predict import plain

            entry["data"] = plain(array.reshape(-1))
        outputs.append(entry)
    answer: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": outputs}
    if request_id is not None:
        answer["id"] = request_id
    head = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    if not binary:
        return head, {}
    return head + b"".join(binary), {HEADER: str(len(head))}


def _pack(array: Any, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1).tolist():
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    code, _ = _BINARY[datatype]
    return array.astype(f"<{'b1' if code == '?' else array.dtype.str[1:]}", copy=False).tobytes()

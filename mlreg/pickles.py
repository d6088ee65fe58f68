"""What a pickle would import, read without unpickling a byte (SPEC §11).

A pickle names every callable it will use with a ``GLOBAL``-family opcode
(``module qualname``); unpickling imports and calls them. ``imports_of`` walks a
file's opcodes (``pickletools.genops``) on a small symbolic stack, never
constructing anything, and returns every name it would import. joblib files are
pickles with the bytes of each NumPy array written inline after the array's
``NumpyArrayWrapper``; the walk reads the wrapper's recorded shape and dtype to
step over them, and walks the nested pickle joblib writes for an object-dtype
array as a pickle of its own (the way GHSA-m62q-453p-gv66 hid a payload).

What cannot be told statically (a ``STACK_GLOBAL`` whose names are not plain
strings, persistent IDs, the copyreg extension registry, out-of-band buffers,
an array whose size cannot be computed) is ``Unreadable``: a load policy
refuses it, never guesses.
"""

from __future__ import annotations

import io
import os
import pickletools
from typing import Any, BinaryIO, Iterator

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_MAX_DEPTH = 8  # nested object arrays inside object arrays


class Unreadable(Exception):
    """The pickle cannot be walked (damaged, or built to hide what it imports)."""


class _Global(str):
    """A name a pickle imports, on the symbolic stack."""


class _Object:
    """Something a pickle would construct: what made it, and its state (BUILD)."""

    __slots__ = ("made_by", "args", "state")

    def __init__(self, made_by: Any, args: Any = None) -> None:
        self.made_by = made_by
        self.args = args
        self.state: Any = None


class _Mark:
    pass


_MARK = _Mark()
_PUSH_ARG = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING",
             "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
             "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})  # MEMOIZE has no argument: the next index
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_REFUSED = {"PERSID": "a persistent ID", "BINPERSID": "a persistent ID", "EXT1": "the copyreg extension registry",
            "EXT2": "the copyreg extension registry", "EXT4": "the copyreg extension registry",
            "NEXT_BUFFER": "an out-of-band buffer", "READONLY_BUFFER": "an out-of-band buffer"}


def imports_of(f: BinaryIO) -> list[str]:
    """Every ``module.qualname`` the pickle (or joblib file) ``f`` would import, sorted,
    each once; ``f`` is read to its end, never unpickled.

    Raises:
        Unreadable: what cannot be walked, naming why.
    """
    found: set[str] = set()
    data = _Capped(_decompressed(f))
    _walk(data, found, 0)
    if data.read(1):
        raise Unreadable("bytes follow the pickle's end (not a file pickle or joblib writes)")
    return sorted(found)


def _decompressed(f: BinaryIO) -> BinaryIO:
    """``f`` itself, or a decompressing reader for a compressed joblib file."""
    head = f.read(8)
    f.seek(0)
    if head[:1] == b"\x80" or not head:
        return f
    try:
        from joblib.numpy_pickle_utils import _COMPRESSORS, _detect_compressor
    except ImportError:  # pragma: no cover - joblib is a dependency
        raise Unreadable("not a pickle") from None
    name = _detect_compressor(f)
    f.seek(0)
    if name in ("not-compressed", "compat"):
        raise Unreadable("not a pickle protocol 2+ stream (an old joblib format, or not a model file)")
    return _COMPRESSORS[name].decompressor_file(f)


class _Capped:
    """A reader whose ``read(n)`` never allocates more than the bytes that are there:
    a pickle declares its own lengths (``BINBYTES8``, ``BYTEARRAY8``), and a declared
    2**62 must not become one allocation before the short read says it lied."""

    _CHUNK = 1 << 20

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._size = os.fstat(f.fileno()).st_size if isinstance(f, io.BufferedReader) else None

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n <= self._CHUNK:
            return self._f.read(n)
        if self._size is not None:
            return self._f.read(min(n, max(0, self._size - self._f.tell())))
        parts, left = [], n
        while left > 0:
            part = self._f.read(min(left, self._CHUNK))
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def readline(self) -> bytes:
        return self._f.readline(self._CHUNK)

    def tell(self) -> int:
        return self._f.tell()

    def skip(self, n: int) -> None:
        """Step over ``n`` bytes (seek in a plain file, read elsewhere)."""
        if self._size is not None:
            if self._f.tell() + n > self._size:
                raise Unreadable("the file ends inside an array")
            self._f.seek(n, io.SEEK_CUR)
            return
        while n > 0:
            got = len(self._f.read(min(n, self._CHUNK)))
            if not got:
                raise Unreadable("the file ends inside an array")
            n -= got


def _walk(f: Any, found: set[str], depth: int) -> None:
    """Walk one pickle, up to and including its STOP."""
    if depth > _MAX_DEPTH:
        raise Unreadable("object arrays nested too deep")
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    try:
        for opcode, arg, _pos in _ops(f):
            name = opcode.name
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name in _MEMO_PUT:  # the commonest opcodes first
                memo[arg if arg is not None else len(memo)] = stack[-1]
            elif name in _MEMO_GET:
                stack.append(memo[arg])
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in ("PROTO", "FRAME"):
                continue
            elif name == "STOP":
                return
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                _pop_mark(stack)
            elif name == "DUP":
                stack.append(stack[-1])
            elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
                stack.append([] if name == "EMPTY_LIST" else {} if name == "EMPTY_DICT" else set())
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                stack.append(tuple(_pop_mark(stack)))
            elif name == "LIST":
                stack.append(list(_pop_mark(stack)))
            elif name == "FROZENSET":
                stack.append(frozenset(_hashable(x) for x in _pop_mark(stack)))
            elif name == "DICT":
                items = _pop_mark(stack)
                stack.append({_hashable(k): v for k, v in zip(items[::2], items[1::2])})
            elif name == "APPEND":
                item = stack.pop()
                _as(stack[-1], list).append(item)
            elif name == "APPENDS":
                items = _pop_mark(stack)
                _as(stack[-1], list).extend(items)
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _as(stack[-1], dict)[_hashable(key)] = value
            elif name == "SETITEMS":
                items = _pop_mark(stack)
                _as(stack[-1], dict).update({_hashable(k): v for k, v in zip(items[::2], items[1::2])})
            elif name == "ADDITEMS":
                items = _pop_mark(stack)
                _as(stack[-1], set).update(_hashable(x) for x in items)
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = arg.partition(" ")
                made = _Global(f"{module}.{qualname}")
                found.add(made)
                if name == "INST":
                    stack.append(_Object(made, tuple(_pop_mark(stack))))
                else:
                    stack.append(made)
            elif name == "STACK_GLOBAL":
                qualname, module = stack.pop(), stack.pop()
                if not (isinstance(module, str) and isinstance(qualname, str)) or isinstance(module, _Global) \
                        or isinstance(qualname, _Global):
                    raise Unreadable("an import whose name is computed, not written")
                made = _Global(f"{module}.{qualname}")
                found.add(made)
                stack.append(made)
            elif name == "REDUCE":
                args = stack.pop()
                stack.append(_Object(stack.pop(), args))
            elif name == "NEWOBJ":
                args = stack.pop()
                stack.append(_Object(stack.pop(), args))
            elif name == "NEWOBJ_EX":
                kwargs, args = stack.pop(), stack.pop()
                stack.append(_Object(stack.pop(), (args, kwargs)))
            elif name == "OBJ":
                items = _pop_mark(stack)
                if not items:
                    raise Unreadable("an empty OBJ")
                stack.append(_Object(items[0], tuple(items[1:])))
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if isinstance(target, _Object):
                    target.state = state
                    if target.made_by == WRAPPER:
                        _skip_array(f, state, found, depth)
            elif name in _REFUSED:
                raise Unreadable(f"it uses {_REFUSED[name]}, which a model file does not need")
            else:
                raise Unreadable(f"the opcode {name}")
    except (IndexError, KeyError, TypeError) as e:
        raise Unreadable(f"a malformed pickle ({type(e).__name__})") from None
    raise Unreadable("the pickle ends without its STOP")


def _ops(f: Any) -> Iterator[tuple[Any, Any, Any]]:
    try:
        yield from pickletools.genops(f)
    except ValueError as e:
        raise Unreadable(f"a malformed pickle ({e})") from None


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1:]
            del stack[i:]
            return items
    raise Unreadable("a malformed pickle (no MARK)")


def _hashable(x: Any) -> Any:
    try:
        hash(x)
        return x
    except TypeError:
        return id(x)


def _as(x: Any, kind: type) -> Any:
    if isinstance(x, kind):
        return x
    if isinstance(x, _Object):  # a list or dict subclass being filled: what it holds does not matter here
        return kind()
    raise Unreadable(f"a malformed pickle (adding to a {type(x).__name__})")


def _skip_array(f: Any, state: Any, found: set[str], depth: int) -> None:
    """Step over the array bytes joblib wrote after a NumpyArrayWrapper, or walk the
    nested pickle of an object-dtype array."""
    if not isinstance(state, dict):
        raise Unreadable("a NumpyArrayWrapper without its state")
    dtype, shape = state.get("dtype"), state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise Unreadable("an array of unreadable shape")
    itemsize = _itemsize(dtype)
    if itemsize is None:  # object dtype: a pickle of its own follows
        _walk(f, found, depth + 1)
        return
    if state.get("numpy_array_alignment_bytes") is not None:
        padding = f.read(1)
        if len(padding) != 1:
            raise Unreadable("the file ends inside an array")
        f.skip(padding[0])
    count = 1
    for n in shape:
        count *= n
    f.skip(count * itemsize)


def _itemsize(dtype: Any) -> int | None:
    """The size of one item of a pickled ``numpy.dtype`` (None: it holds objects, so
    joblib wrote the array as a nested pickle)."""
    code, state = _dtype_parts(dtype)
    if _holds_objects(dtype, 0):
        return None
    import numpy

    try:
        size = numpy.dtype(code).itemsize
    except TypeError:
        raise Unreadable(f"an array of dtype {code[:20]!r}") from None
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0 \
            and (size == 0 or state[3] is not None):
        size = state[5]  # a flexible or structured dtype records its size in its state
    if size <= 0:
        raise Unreadable(f"an array of dtype {code[:20]!r} with no size")
    return size


def _dtype_parts(dtype: Any) -> tuple[str, Any]:
    if not (isinstance(dtype, _Object) and dtype.made_by == "numpy.dtype" and isinstance(dtype.args, tuple)
            and dtype.args and isinstance(dtype.args[0], str)):
        raise Unreadable("an array whose dtype is not a plain numpy.dtype")
    return dtype.args[0], dtype.state


def _holds_objects(dtype: Any, depth: int) -> bool:
    """Whether a pickled dtype is, or has a field that is, Python objects."""
    if depth > _MAX_DEPTH:
        raise Unreadable("a dtype nested too deep")
    code, state = _dtype_parts(dtype)
    if code.startswith("O"):
        return True
    if isinstance(state, tuple) and len(state) >= 5 and state[4] is not None:
        fields = state[4]
        if not isinstance(fields, dict):
            raise Unreadable("a structured dtype without its fields")
        for field in fields.values():
            if not (isinstance(field, tuple) and field):
                raise Unreadable("a structured dtype with an unreadable field")
            if _holds_objects(field[0], depth + 1):
                return True
    return False

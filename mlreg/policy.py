"""The load policy (SPEC §11): what this reader lets a version's artifact import.

A ``joblib`` artifact is a pickle, and a pickle imports and calls whatever it
names. Under the default policy, ``allowlist``, it loads only when every name
it imports is on the built-in allowlist (what plain scikit-learn models need)
or in the trust file's ``allow_imports``: checked by walking the file before a
byte is unpickled (``pickles.imports_of``), and again by the unpickler's own
class lookup while it loads (``restricted_load``), so that a walk that missed
something still cannot load it.

The built-in allowlist is exact names, never a package's every name (NumPy
and SciPy hold functions that run code or write files): the array and scalar
constructors of NumPy, SciPy's sparse matrices, joblib's array wrapper, a few
builtins, and every scikit-learn estimator class (a ``BaseEstimator``
subclass, found under the very name it is imported by) with the helper classes
estimators hold (trees, losses, neighbour trees, distance metrics).
"""

from __future__ import annotations

import functools
from typing import Any, BinaryIO, Collection

POLICIES = ("allowlist", "safe-only", "pickle")
DEFAULT = "allowlist"

BUILTIN = frozenset({
    # NumPy: arrays, scalars, dtypes, random states
    "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.ma.core._mareconstruct",
    "numpy.ma.core.MaskedArray", "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor", "numpy.random.mtrand.RandomState", "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64", "numpy.random._generator.Generator", "numpy.random.bit_generator.SeedSequence",
    "numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer",
    # joblib's wrapper for the arrays it writes inline
    "joblib.numpy_pickle.NumpyArrayWrapper",
    # plain Python values
    "builtins.slice", "builtins.set", "builtins.frozenset", "builtins.complex", "builtins.bytearray", "builtins.range",
    "builtins.object", "builtins.float", "builtins.int", "builtins.str", "builtins.bytes", "builtins.list",
    "builtins.dict", "builtins.tuple", "builtins.bool",
    "collections.OrderedDict", "collections.defaultdict", "copyreg._reconstructor",
    "datetime.datetime", "datetime.date", "datetime.timedelta",
})
# NumPy's scalar types (a pickled number is one of these called on its bytes)
BUILTIN_NUMPY_SCALARS = frozenset(f"numpy.{t}" for t in (
    "float16", "float32", "float64", "longdouble", "complex64", "complex128", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool_", "str_", "bytes_", "datetime64", "timedelta64", "intc", "uintc"))
# Functions estimators hold as parameters (score functions), and the object
# constructors Cython and scikit-learn's trees register for pickling
BUILTIN_FUNCTIONS = frozenset({
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._univariate_selection.r_regression",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.metrics._dist_metrics.newObj", "sklearn.neighbors._kd_tree.newObj", "sklearn.neighbors._ball_tree.newObj",
    "sklearn.neighbors._binary_tree.newObj",
})
_CYTHON_UNPICKLE = "__pyx_unpickle_"  # Cython's constructor of its classes' pickles, per module
# SciPy's sparse matrices and arrays, by the modules that define them
_SCIPY_SPARSE = ("csr", "csc", "coo", "lil", "dok", "dia", "bsr")
BUILTIN_SCIPY = frozenset(
    f"scipy.sparse._{kind}.{kind}_{shape}" for kind in _SCIPY_SPARSE for shape in ("matrix", "array"))
# Helper classes scikit-learn estimators hold (classes only, in these modules only)
_SKLEARN_HELPER_MODULES = (
    "sklearn.tree._tree", "sklearn._loss.loss", "sklearn._loss.link", "sklearn._loss._loss",
    "sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree", "sklearn.metrics._dist_metrics",
    "sklearn.ensemble._hist_gradient_boosting.predictor", "sklearn.ensemble._hist_gradient_boosting.common",
    "sklearn.utils._bunch", "sklearn.compose._column_transformer", "sklearn.utils._metadata_requests",
    "sklearn.preprocessing._encoders", "sklearn.utils._set_output", "sklearn.utils._tags",
    "sklearn.utils.validation", "sklearn.utils._param_validation", "sklearn.linear_model._sgd_fast",
    "sklearn.neural_network._stochastic_optimizers", "sklearn.gaussian_process.kernels", "sklearn.calibration",
    "sklearn.neighbors._binary_tree", "sklearn.utils._seq_dataset", "sklearn.svm._newrand",
)


class Policy:
    """What this reader may load: ``mode`` (one of ``POLICIES``) and the names the
    trust file adds to the allowlist."""

    def __init__(self, mode: str = DEFAULT, allow_imports: Collection[str] = (), source: str | None = None) -> None:
        self.mode = mode
        self.allow_imports = frozenset(allow_imports)
        self.source = source  # the trust file it came from (None: the default)
        self._judged: dict[tuple[tuple[str, ...], bool], str | None] = {}  # first_refused's answers

    def __repr__(self) -> str:
        return f"Policy({self.mode!r}, {sorted(self.allow_imports)!r})"

    def allows(self, name: str) -> bool:
        """Whether a pickle may import ``name`` (``module.qualname``) under ``allowlist``."""
        return self.allows_without_import(name) or _sklearn_class(name)

    def first_refused(self, imports: Collection[str], *, forecast: bool = False) -> str | None:
        """The first of ``imports`` the policy does not allow (None: all allowed). With
        ``forecast`` (a reading command's ``trusted``, which must not import scikit-learn
        to answer), a scikit-learn name is judged by its form (a class, by its capital)
        unless scikit-learn is loaded already; a load always judges exactly."""
        import sys

        exact = not forecast or "sklearn" in sys.modules
        key = (tuple(imports), exact)  # a listing asks it of many versions with the same imports
        if key not in self._judged:
            self._judged[key] = next((
                name for name in sorted(imports)
                if not (self.allows(name) if exact or not name.startswith("sklearn.")
                        else _looks_like_sklearn_class(name) or self.allows_without_import(name))), None)
        return self._judged[key]

    def allows_without_import(self, name: str) -> bool:
        """``allows``, short of the check that imports scikit-learn."""
        return (name in self.allow_imports or name in BUILTIN or name in BUILTIN_SCIPY
                or name in BUILTIN_NUMPY_SCALARS or name in BUILTIN_FUNCTIONS or _cython_unpickle(name))

    def how_to_allow(self, name: str) -> str:
        """The two ways to let a refused import load, in one line."""
        where = f"the trust file {self.source}" if self.source else "a trust file (--trust-file / MLREG_TRUST_FILE)"
        return (f'add "{name}" to allow_imports under [policy] in {where}, or have a signer you trust sign '
                "the version (`mlreg sign NAME VERSION`; your own key, or one under [signers] there): "
                "a vouched-for version loads as any pickle")


@functools.cache
def default_policy() -> Policy:
    """The policy of a reader without a trust file: one for the process (it keeps what
    it judged)."""
    return Policy()


def _looks_like_sklearn_class(name: str) -> bool:
    """A scikit-learn name of a class's form (``sklearn.module.ClassName``), no dunder."""
    last = name.rpartition(".")[2]
    return name.startswith("sklearn.") and "__" not in name and last[:1].isupper()


def _cython_unpickle(name: str) -> bool:
    """Cython's generated ``__pyx_unpickle_CLASS`` of a module whose classes are allowed
    (it makes a CLASS, checked against the pickle's checksum, and sets its state)."""
    module, _, function = name.rpartition(".")
    return (function.startswith(_CYTHON_UNPICKLE) and "__" not in function[len(_CYTHON_UNPICKLE):]
            and (module.startswith(_SKLEARN_HELPER_MODULES) or module == "numpy.random.bit_generator"))


@functools.lru_cache(maxsize=4096)
def _sklearn_class(name: str) -> bool:
    """Whether ``name`` is a scikit-learn class estimators are made of: an estimator (a
    ``BaseEstimator`` subclass) or a class of the helper modules, found under exactly
    the name it is imported by (never an attribute of one: ``X.__init__.__globals__``)."""
    if not name.startswith("sklearn.") or "__" in name:
        return False
    import importlib

    module, _, qualname = name.rpartition(".")
    while module and "." in module:
        try:
            found: Any = importlib.import_module(module)
            break
        except ImportError:
            module, _, head = module.rpartition(".")
            qualname = f"{head}.{qualname}"
    else:
        return False
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            return False
    if not isinstance(found, type) or f"{found.__module__}.{found.__qualname__}" != name:
        return False
    if found.__module__.startswith(_SKLEARN_HELPER_MODULES):
        return True
    from sklearn.base import BaseEstimator

    return issubclass(found, BaseEstimator)


class Refused(Exception):
    """The unpickler was asked for a name the policy does not allow."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def restricted_load(f: BinaryIO, policy: Policy) -> Any:
    """Load the joblib (or pickle) file ``f`` with an unpickler that imports only what
    ``policy`` allows (joblib's nested pickles of object arrays included: they are
    read through the same lookup).

    Raises:
        Refused: naming the first name it was asked for that is not allowed.
    """
    from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap

    class _Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if not policy.allows(f"{module}.{name}"):
                raise Refused(f"{module}.{name}")
            return super().find_class(module, name)

    filename = getattr(f, "name", "")
    with _validate_fileobject_and_memmap(f, filename if isinstance(filename, str) else "", None) as (fobj, _):
        if isinstance(fobj, str):  # joblib's format before 0.10: arrays in companion files
            raise Refused("joblib.numpy_pickle.NDArrayWrapper")
        return _Restricted(filename if isinstance(filename, str) else "", fobj, True).load()

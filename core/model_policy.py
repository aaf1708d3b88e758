"""Which types a model file may contain: a policy written here, never read from the file.

A skops file describes how to rebuild an object: for every node a module, a name and a
loader. Some loaders call what they name (``ReduceNode``, ``ConstructorFromReduceNode``:
``name(*args)``), so a file naming ``os.system`` runs a command while it loads. skops
trusts a reviewed set of types by default and reports the others; this module judges each
reported type by rules in the code and refuses the file, naming the first type it does
not accept, before skops constructs anything. The SHA-256 recorded in the store is no
help here: whoever can plant a file can write its hash in the same database.

A reported type is accepted when:

- it is one of a few plain data types of ``builtins`` and ``collections``; or
- its module is under ``sklearn``, ``numpy`` or ``scipy`` (or a module the project
  declares in ``[models] trusted_modules``), outside the parts of those libraries that
  read or write files, compile or run tests, and the name resolves to a **class** defined
  there (so ``sklearn.something.system``, a re-export of ``os.system``, is refused); or
- it resolves to a function defined in those modules and the file only *refers* to it
  (``FunctionNode``, e.g. ``FunctionTransformer(func=...)``), never calls it on load.

Nothing else is imported: a module outside the allowed roots is refused by its name
alone, because importing a module runs its code.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from dockyard.core.errors import InputError

SAFE_ROOTS = ("sklearn", "numpy", "scipy")

# Plain data: constructing any of these from values in the file runs no user code.
SAFE_BUILTINS = frozenset(
    f"builtins.{name}"
    for name in (
        "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int",
        "list", "range", "set", "slice", "str", "tuple",
    )
) | {"collections.OrderedDict", "collections.defaultdict", "collections.Counter"}  # fmt: skip

# Parts of the allowed libraries that open, write or load files (numpy.load with
# allow_pickle, memmap truncating a path, scipy.io writers), build native code (f2py) or
# run test machinery. A model never needs them, and each is a way from a file to harm.
REFUSED_MODULES = (
    "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.ctypeslib", "numpy.lib.format",
    "numpy.lib.npyio", "numpy.lib._npyio_impl", "numpy.lib._datasource", "numpy._pytesttester",
    "numpy.lib._utils_impl", "numpy.lib.utils", "numpy.conftest",
    "scipy.io", "scipy._lib._testutils", "scipy.conftest", "scipy.datasets",
    "sklearn.datasets", "sklearn.utils._testing", "sklearn.conftest", "sklearn.externals",
    "sklearn.utils._show_versions", "sklearn._build_utils",
)  # fmt: skip
REFUSED_NAMES = frozenset(
    {
        "numpy.memmap", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile",
        "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
        "numpy.DataSource", "numpy.tofile", "numpy.fromregex",
    }
)  # fmt: skip

# Loaders that only hand back the object they name; every other loader constructs it.
REFERENCE_LOADERS = frozenset({"FunctionNode", "TypeNode"})

MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Modules no project may declare trusted: each can load or run arbitrary code by design.
NEVER_TRUSTED = frozenset(
    {
        "joblib", "dill", "cloudpickle", "pickle", "skops", "pip", "setuptools", "pkg_resources",
        "importlib", "dockyard", "core", "store", "tui", "IPython", "pytest", "_pytest",
    }
)  # fmt: skip


class UntrustedModelError(InputError):
    """A model file names a type the loading policy does not accept; nothing was loaded."""


def trusted_module_problem(name: object) -> str | None:
    """Why ``name`` cannot be declared a trusted module of a project, or None if it can.

    Used when ``dockyard.toml`` is read and again when a model is loaded, so a module
    written into the stored project by hand gets the same scrutiny as one in the file.
    """
    if not isinstance(name, str) or not MODULE_RE.match(name):
        return f"{name!r} is not a Python module name (letters, digits, _ and dots)"
    root = name.split(".", 1)[0]
    if root in SAFE_ROOTS:
        return f"{name!r} is already covered by the built-in policy; leave it out"
    if root in sys.stdlib_module_names or root in NEVER_TRUSTED or root.startswith("_"):
        return (
            f"{name!r} cannot be trusted: {root} can run arbitrary code; list only your "
            "project's own modules"
        )
    return None


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def schema_nodes(data: bytes) -> list[tuple[str, str, str]]:
    """Every (module, name, loader) the skops file ``data`` describes, in order."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UntrustedModelError(f"not a readable skops file ({exc})") from None
    return list(dict.fromkeys(_walk(schema)))


def _walk(node: Any) -> Iterator[tuple[str, str, str]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield (str(item.get("__module__")), str(item.get("__class__")),
                       str(item["__loader__"]))  # fmt: skip
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def judge_type(
    module: str, name: str, loaders: set[str], extra_modules: tuple[str, ...] = ()
) -> str | None:
    """Why the type ``module.name`` may not be loaded, or None if the policy accepts it."""
    full = f"{module}.{name}"
    if full in SAFE_BUILTINS:
        return None
    roots = SAFE_ROOTS + tuple(extra_modules)
    if not _under(module, roots) or not MODULE_RE.match(module) or not name.isidentifier():
        return "its module is not scikit-learn, NumPy, SciPy or a declared trusted module"
    if _under(module, REFUSED_MODULES) or full in REFUSED_NAMES:
        return "it reads or writes files or runs code, which no model needs"
    import importlib

    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return "it does not exist in the installed libraries"
    home = getattr(obj, "__module__", None)
    if not isinstance(home, str) or not _under(home, roots) or _under(home, REFUSED_MODULES):
        return f"it is defined in {home or 'an unknown module'}, not in an allowed library"
    if f"{home}.{getattr(obj, '__name__', '')}" in REFUSED_NAMES:
        return "it reads or writes files or runs code, which no model needs"
    if isinstance(obj, type):
        return None
    if callable(obj) and loaders <= REFERENCE_LOADERS:
        return None
    return "it is not a class, and loading would call it"


def approved_types(data: bytes, extra_modules: tuple[str, ...] = ()) -> list[str]:
    """The types skops reports as untrusted in the file ``data``, each accepted by the policy.

    Raises :class:`UntrustedModelError` naming the first type that is not accepted.
    """
    from skops.io import get_untrusted_types

    nodes = schema_nodes(data)
    for module in extra_modules:
        problem = trusted_module_problem(module)
        if problem is not None:
            raise UntrustedModelError(f"trusted module refused: {problem}")
    try:
        untrusted = get_untrusted_types(data=data)
    except Exception as exc:  # skops refuses malformed schemas in many ways
        raise UntrustedModelError(f"not a readable skops file ({exc})") from None
    loaders: dict[str, set[str]] = {}
    parts: dict[str, tuple[str, str]] = {}
    for module, name, loader in nodes:
        loaders.setdefault(f"{module}.{name}", set()).add(loader)
        parts[f"{module}.{name}"] = (module, name)
    for full in untrusted:
        # A name skops reports but the schema walk did not see (a constructor skops
        # names itself) is split at its last dot.
        module, name = parts.get(full, tuple(full.rsplit(".", 1)) if "." in full else ("", full))
        reason = judge_type(module, name, loaders.get(full, {"?"}), extra_modules)
        if reason is not None:
            raise UntrustedModelError(
                f"the model file contains type {full}, which Dockyard does not load: {reason}"
            )
    return list(untrusted)


def load_skops(data: bytes, extra_modules: tuple[str, ...] = ()) -> Any:
    """Load the skops file ``data`` trusting only what :func:`approved_types` accepts.

    The caller passes the bytes it has just hash-checked, so the file cannot be swapped
    between the check and the load.
    """
    from skops.io import loads

    trusted = approved_types(data, extra_modules)
    try:
        return loads(data, trusted=trusted)
    except Exception as exc:
        raise UntrustedModelError(f"the model file could not be loaded ({exc})") from None


# Functions a pickle of a NumPy array or scalar calls to rebuild it (NumPy 1.x and 2.x
# names); each only builds an array from the bytes and dtype it is given.
PICKLE_REBUILDERS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("copyreg", "_reconstructor"), ("builtins", "object"),
    }
)  # fmt: skip


def load_pickle_restricted(data: bytes, extra_modules: tuple[str, ...] = ()) -> Any:
    """Unpickle ``data`` letting it name only what this module's policy accepts.

    Used once, to bring a model pickled elsewhere (MLflow's sklearn flavour) into the skops
    format; Dockyard never loads a pickle it stores. ``find_class`` is where a pickle says
    which callable to run, so every global the file names is judged there before anything
    is imported or called: classes of scikit-learn, NumPy and SciPy (with
    :func:`judge_type`, as for a skops file), plain data types, and the few NumPy
    functions that rebuild arrays. A pickle naming ``os.system`` stops at that name.
    """
    import pickle

    class _PolicyUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in PICKLE_REBUILDERS:
                # a pickle may call what it names: judged as a constructor, never a reference
                reason = judge_type(module, name, {"ReduceNode"}, extra_modules)
                if reason is not None:
                    raise UntrustedModelError(
                        f"the pickle names {module}.{name}, which Dockyard does not load: {reason}"
                    )
            return super().find_class(module, name)

    try:
        return _PolicyUnpickler(io.BytesIO(data)).load()
    except UntrustedModelError:
        raise
    except Exception as exc:  # a truncated or foreign file fails in many ways
        raise UntrustedModelError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None

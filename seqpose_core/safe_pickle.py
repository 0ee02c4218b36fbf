"""Loading pickles from other projects without letting them run code.

NOCS annotations (``*_label.pkl``) and published results (``results_*.pkl``) are
pickles. A pickle can name any callable; this loader admits numpy arrays, dtypes and
scalars and builtin containers, and refuses everything else with an error naming it.
"""

from __future__ import annotations

import pickle
from typing import BinaryIO, ClassVar


class SafeUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dtypes, scalars and builtin containers; refuses everything else."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
            ("builtins", "list"),
            ("builtins", "dict"),
            ("builtins", "tuple"),
            ("builtins", "set"),
            ("builtins", "bytes"),  # protocol 2 writes an empty array's data as bytes()
            ("__builtin__", "bytes"),  # the same, named as Python 2 names it
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a results pickle")


def safe_load(f: BinaryIO) -> object:
    """Unpickle numpy/builtin data (Python 2 pickles included, as latin-1)."""
    return SafeUnpickler(f, encoding="latin1").load()

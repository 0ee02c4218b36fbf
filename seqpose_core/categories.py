"""The NOCS object categories and their symmetries.

Class ids follow the NOCS datasets: 0 is background, 1..6 the six object classes.
Bottle, bowl and can are symmetric about their y (up) axis; so is a mug whose handle
is not visible, which is decided per instance from its handle visibility.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")  # np.ndarray or torch.Tensor

CLASS_NAMES: tuple[str, ...] = ("BG", "bottle", "bowl", "camera", "can", "laptop", "mug")
NUM_CLASSES = len(CLASS_NAMES) - 1  # object classes, background excluded
SYMMETRIC_CLASS_IDS: frozenset[int] = frozenset({1, 2, 4})
MUG_CLASS_ID = 6


def class_id(name: str) -> int:
    """Return the NOCS class id of a class name (``ValueError`` names unknown classes)."""
    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown NOCS class {name!r}; expected one of {CLASS_NAMES[1:]}") from None


def symmetric_about_y(class_ids: ArrayT, handle_visible: ArrayT) -> ArrayT:
    """The symmetry rule, written once for numpy arrays and torch tensors alike.

    class_ids (...) ints 1..6, handle_visible (...) bools (broadcast) -> (...) bool: bottle,
    bowl and can always; a mug only when its handle is not visible.
    """
    sym = (class_ids == MUG_CLASS_ID) & ~handle_visible
    for c in sorted(SYMMETRIC_CLASS_IDS):
        sym = sym | (class_ids == c)
    return sym


def is_symmetric(cls_id: int, handle_visible: bool = True) -> bool:
    """``symmetric_about_y`` of one object."""
    return bool(symmetric_about_y(np.asarray(cls_id), np.asarray(bool(handle_visible))))

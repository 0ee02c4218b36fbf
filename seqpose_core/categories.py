"""The NOCS object categories and their symmetries.

Class ids follow the NOCS datasets: 0 is background, 1..6 the six object classes.
Bottle, bowl and can are symmetric about their y (up) axis; so is a mug whose handle
is not visible, which is decided per instance from its handle visibility.
"""

from __future__ import annotations

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


def is_symmetric(cls_id: int, handle_visible: bool = True) -> bool:
    """Whether an object of class ``cls_id`` is treated as symmetric about its y axis.

    A mug counts as symmetric only when its handle is not visible.
    """
    if cls_id in SYMMETRIC_CLASS_IDS:
        return True
    return cls_id == MUG_CLASS_ID and not handle_visible

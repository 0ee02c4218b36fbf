"""Object categories as data: names, symmetries, and the NOCS default.

A model's class list is a ``Categories``: id 0 is background, ids 1..C its categories in order.
It is part of the model's config (``ModelConfig.categories``), so it travels in every checkpoint;
everything that names or scores a model's classes (the predictor, tracker, evaluation, node)
reads it from there. ``NOCS`` is the default: the six classes of the NOCS datasets, whose data
(REAL275, CAMERA, the generator's scenes) carry its ids.

Bottle, bowl and can are symmetric about their y (up) axis; so is a mug whose handle is not
visible, which is decided per instance from its handle visibility (a ``handle`` category).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")  # np.ndarray or torch.Tensor
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # a TF frame, a topic and a file name can carry it


@dataclass(frozen=True)
class Category:
    """name: lower-case letters, digits and underscores; symmetric: about its y (up) axis;
    handle: symmetric about y unless its handle is visible (the mug rule)."""

    name: str
    symmetric: bool = False
    handle: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"category name {self.name!r}: use lower-case letters, digits and '_'")
        if self.symmetric and self.handle:
            raise ValueError(f"category {self.name!r}: symmetric and handle exclude each other")


class Categories:
    """An ordered class list; ids 1..C follow its order, 0 is background ("BG")."""

    def __init__(self, items: Sequence[Category]):
        self.items = tuple(items)
        names = [c.name for c in self.items]
        if not names:
            raise ValueError("a class list needs at least one category")
        if len(set(names)) != len(names) or "bg" in names:
            raise ValueError(f"class names must be unique and not 'bg': {names}")
        self.names: tuple[str, ...] = ("BG", *names)
        self._symmetric = [i for i, c in enumerate(self.items, 1) if c.symmetric]
        self._handle = [i for i, c in enumerate(self.items, 1) if c.handle]

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categories) and self.items == other.items

    def __repr__(self) -> str:
        return f"Categories({list(self.names[1:])})"

    def id(self, name: str) -> int:
        """The class id of a name (``ValueError`` names an unknown class and the known ones)."""
        try:
            return self.names.index(name, 1)
        except ValueError:
            raise ValueError(f"unknown class {name!r}; expected one of {self.names[1:]}") from None

    def symmetric_about_y(self, class_ids: ArrayT, handle_visible: ArrayT) -> ArrayT:
        """class_ids (...) ints 1..C, handle_visible (...) bools (broadcast) -> (...) bool; written
        once for numpy arrays and torch tensors alike."""
        sym = (class_ids < 0) & (handle_visible == handle_visible)  # all False, broadcast shape
        for c in self._symmetric:
            sym = sym | (class_ids == c)
        for c in self._handle:
            sym = sym | ((class_ids == c) & ~handle_visible)
        return sym

    def is_symmetric(self, cls_id: int, handle_visible: bool = True) -> bool:
        """``symmetric_about_y`` of one object."""
        return bool(self.symmetric_about_y(np.asarray(cls_id), np.asarray(bool(handle_visible))))

    def extends(self, other: Categories) -> bool:
        """Whether this list begins with ``other``'s categories (same ids, same rules)."""
        return self.items[: len(other)] == other.items

    def plus(self, category: Category) -> Categories:
        """This list with one more category, which gets the next id."""
        return Categories((*self.items, category))

    def to_list(self) -> list[dict]:
        """Plain data for a YAML config or a checkpoint's metadata."""
        return [asdict(c) for c in self.items]

    @classmethod
    def from_list(cls, items: Sequence[dict | str]) -> Categories:
        """From ``to_list``'s data; a bare name is an asymmetric category."""
        return cls([Category(c) if isinstance(c, str) else Category(**c) for c in items])


NOCS = Categories(
    (
        Category("bottle", symmetric=True),
        Category("bowl", symmetric=True),
        Category("camera"),
        Category("can", symmetric=True),
        Category("laptop"),
        Category("mug", handle=True),
    )
)

# The NOCS datasets' own ids, for the code that reads or writes their data (loaders, generator).
CLASS_NAMES: tuple[str, ...] = NOCS.names
class_id = NOCS.id
symmetric_about_y = NOCS.symmetric_about_y
is_symmetric = NOCS.is_symmetric

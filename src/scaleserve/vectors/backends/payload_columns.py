"""The embedded store's payload index: one numpy column per filterable field, by slot.

A filter becomes a boolean mask over slots in a few vectorised operations, whatever the
number of points, so the query planner knows exactly how many points pass before it
chooses between an exact search over them and the HNSW graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaleserve.vectors import filters
from scaleserve.vectors.payload_types import FieldType, type_of

Mask = npt.NDArray[np.bool_]
_ABSENT_CODE = -1


class PayloadColumns:
    """Columns for ``capacity`` slots, grown on demand."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self.live: Mask = np.zeros(capacity, dtype=bool)
        self._numbers: dict[str, npt.NDArray[np.float64]] = {}
        self._codes: dict[str, npt.NDArray[np.int32]] = {}
        self._vocab: dict[str, dict[Any, int]] = {}

    def set(self, slot: int, payload: Mapping[str, Any]) -> None:
        """Slot ``slot`` holds a live point with ``payload``."""
        self._reserve(slot + 1)
        self.clear(slot)
        self.live[slot] = True
        for name, value in payload.items():
            kind = type_of(value)
            if kind is FieldType.NUMBER:
                self._number_column(name)[slot] = float(value)
            elif kind is not None:
                self._code_column(name)[slot] = self._code(name, value)

    def clear(self, slot: int) -> None:
        if slot >= self._capacity:
            return
        self.live[slot] = False
        for column in self._numbers.values():
            column[slot] = np.nan
        for codes in self._codes.values():
            codes[slot] = _ABSENT_CODE

    def mask(self, tree: filters.Filter | None) -> Mask:
        """Live slots whose payload passes ``tree``."""
        if tree is None:
            return self.live.copy()
        return self._eval(tree) & self.live

    def _eval(self, tree: filters.Filter) -> Mask:
        if isinstance(tree, filters.And):
            both: Mask = np.logical_and.reduce([self._eval(c) for c in tree.children])
            return both
        if isinstance(tree, filters.Or):
            either: Mask = np.logical_or.reduce([self._eval(c) for c in tree.children])
            return either
        if isinstance(tree, filters.Not):
            return ~self._eval(tree.child)
        if isinstance(tree, filters.Range):
            return self._range(tree)
        return self._membership(tree)

    def _membership(self, tree: filters.Eq | filters.In) -> Mask:
        if tree.field in self._numbers:
            column = self._numbers[tree.field]
            wanted = [tree.value] if isinstance(tree, filters.Eq) else list(tree.values)
            return np.isin(column, np.asarray(wanted, dtype=np.float64))
        vocab = self._vocab.get(tree.field, {})
        values = [tree.value] if isinstance(tree, filters.Eq) else tree.values
        codes = [vocab[v] for v in values if v in vocab]
        if not codes:
            return np.zeros(self._capacity, dtype=bool)
        return np.isin(self._code_column(tree.field), np.asarray(codes, dtype=np.int32))

    def _range(self, tree: filters.Range) -> Mask:
        column = self._number_column(tree.field)
        with np.errstate(invalid="ignore"):  # NaN (absent) compares False: not passing
            mask = ~np.isnan(column)
            if tree.gt is not None:
                mask &= column > tree.gt
            if tree.gte is not None:
                mask &= column >= tree.gte
            if tree.lt is not None:
                mask &= column < tree.lt
            if tree.lte is not None:
                mask &= column <= tree.lte
        return mask

    def _code(self, name: str, value: Any) -> int:
        vocab = self._vocab.setdefault(name, {})
        # bools and strings share nothing: a field has one type (payload_types)
        return vocab.setdefault(value, len(vocab))

    def _number_column(self, name: str) -> npt.NDArray[np.float64]:
        if name not in self._numbers:
            self._numbers[name] = np.full(self._capacity, np.nan)
        return self._numbers[name]

    def _code_column(self, name: str) -> npt.NDArray[np.int32]:
        if name not in self._codes:
            self._codes[name] = np.full(self._capacity, _ABSENT_CODE, dtype=np.int32)
        return self._codes[name]

    def _reserve(self, size: int) -> None:
        if size <= self._capacity:
            return
        capacity = max(size, self._capacity * 2)
        self.live = _grown(self.live, capacity, False)
        self._numbers = {n: _grown(c, capacity, np.nan) for n, c in self._numbers.items()}
        self._codes = {n: _grown(c, capacity, _ABSENT_CODE) for n, c in self._codes.items()}
        self._capacity = capacity


def _grown(column: npt.NDArray[Any], capacity: int, fill: Any) -> npt.NDArray[Any]:
    grown = np.full(capacity, fill, dtype=column.dtype)
    grown[: len(column)] = column
    return grown

"""WeighedLru: values by key, least recently used first out once their weights pass a bound."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class WeighedLru(Generic[K, V]):
    """Values by key, bounded by the sum of their weights (``weigh(key, value)``): past ``max_weight``
    the least recently used go first, but the one put last always stays. Thread-safe (the local stack
    serves requests on threads)."""

    def __init__(self, max_weight: int, weigh: Callable[[K, V], int]) -> None:
        self.max_weight = max_weight
        self._weigh = weigh
        self._values: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    @property
    def weight(self) -> int:
        return self._weight

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            self._values.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if key in self._values:
                return
            weight = self._weigh(key, value)
            self._values[key] = (value, weight)
            self._weight += weight
            while self._weight > self.max_weight and len(self._values) > 1:
                _, (_, evicted) = self._values.popitem(last=False)
                self._weight -= evicted

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._weight = 0

"""The one kind of registry behind every name a user can type: boosters, strategies and
dataset sources. A registry keeps its entries in registration order (the order tables and
reports use), refuses a name registered twice, and answers an unknown name with an error that
lists the registered ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class UnknownName(BenchError, ValueError):
    """A name no registry entry has; the message lists the registered names."""


class Registry(Generic[T]):
    """name -> entry, in registration order; ``kind`` names the entries in messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register throwaway entries and take them out again)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.unknown_message([name])) from None

    def unknown_message(self, names: list[str]) -> str:
        bad = ", ".join(repr(n) for n in names)
        plural = "s" if len(names) > 1 else ""
        return f"unknown {self.kind}{plural} {bad}; registered: {', '.join(self._entries)}"

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

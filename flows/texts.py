"""Texts per locale, with child-friendly variants (``key@child``), and rendering of replies."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from flows.types import Reply

LOCALES = ("id", "en")
CHILD_SUFFIX = "@child"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A reply in words: its text and its buttons as ``(id, label)``."""

    text: str
    choices: tuple[tuple[str, str], ...]


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Catalogue:
    def __init__(self, texts: dict[str, dict[str, str]]) -> None:
        self._texts = texts

    def has(self, key: str, locale: str) -> bool:
        return key in self._texts.get(locale, {})

    def keys(self, locale: str) -> set[str]:
        return set(self._texts.get(locale, {}))

    def text(self, key: str, locale: str, *, child: bool = False) -> str:
        table = self._texts.get(locale) or self._texts[LOCALES[0]]
        if child and key + CHILD_SUFFIX in table:
            return table[key + CHILD_SUFFIX]
        return table.get(key) or self._texts[LOCALES[0]][key]

    def labels(self, key: str) -> list[str]:
        """Every locale's label for ``key`` (typed answers match any of them)."""
        return [table[key] for table in self._texts.values() if key in table]

    def render(self, reply: Reply, locale: str, *, child: bool = False) -> Rendered:
        template = self.text(reply.key, locale, child=child)
        params = _Params(reply.params)
        text = string.Formatter().vformat(template, (), params).strip()
        choices = tuple(
            (
                choice.id,
                choice.label if choice.raw else self.text(choice.label, locale, child=child),
            )
            for choice in reply.choices
        )
        return Rendered(text=text, choices=choices)

"""How errors are reported: one line per problem."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or its type's name when it has none
    (a 0-byte file makes ``torch.load`` raise with an empty message)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__

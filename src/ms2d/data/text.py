"""Sentence tokenization shared by vocabulary building and dataset statistics."""

from __future__ import annotations

import re

# A token is a run of letters/digits, optionally joined by inner apostrophes ("person's",
# "don't"). Quotes around a word and all other punctuation are separators. ``[^\W_]`` is a
# letter or digit in any script, so non-ASCII words ("café") stay whole; on ASCII input this
# is exactly ``[a-z0-9]+(?:'[a-z0-9]+)*`` after lower-casing.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(sentence: str) -> list[str]:
    """Lower-case ``sentence`` and split it into word tokens.

    >>> tokenize("A person's putting a book on a shelf.")
    ['a', "person's", 'putting', 'a', 'book', 'on', 'a', 'shelf']
    >>> tokenize("  The girl dances -- 'happily'!")
    ['the', 'girl', 'dances', 'happily']
    """
    return _TOKEN.findall(sentence.lower())


__all__ = ["tokenize"]

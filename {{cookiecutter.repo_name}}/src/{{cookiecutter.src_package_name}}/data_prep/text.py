"""Text cleaning shared by data preparation, training, the API and batch inference.

Every path that turns a raw review into model input goes through
:func:`clean_text`, so the model always sees text prepared the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

#: A tag ends at the first ``>`` and cannot contain ``<``: each match attempt stops at the
#: next ``<``, so cleaning is linear in the text length (``<[^>]+>`` was quadratic on ``<<<...``).
_TAG = re.compile(r"<[^<>]+>")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Strip HTML markup and entities and collapse whitespace.

    Parameters
    ----------
    text : str
        A raw review, possibly holding ``<br />`` tags and ``&amp;`` entities.

    Returns
    -------
    str
        The review as plain text on one line. Case and punctuation are kept:
        the vectoriser lowercases, and ``!`` and ``?`` carry sentiment.

    Examples
    --------
    >>> clean_text("Great film!<br /><br />Loved  it &amp; more.")
    'Great film! Loved it & more.'
    """
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()


def clean_texts(texts: Iterable[str]) -> list[str]:
    """Apply :func:`clean_text` to every text of a batch."""
    return [clean_text(text) for text in texts]

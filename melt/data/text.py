"""Text repairs for MELD copies in circulation."""

from __future__ import annotations

import ftfy


def repair_mojibake(text: str) -> str:
    """Undo cp1252/latin-1 mojibake (``â€™`` → ``’``) and nothing else.

    Only ftfy's encoding fix runs: quotes, width and ligatures are left as the corpus has them.
    """
    return ftfy.fix_encoding(text)


def count_words(text: str) -> int:
    # Whitespace tokens: the rule that reproduces the paper's 7032 train / 1796 test rows.
    return len(text.split())

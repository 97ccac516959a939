"""Text normalisation and tokenisation shared by keyword queries and the items they match.

Both sides go through the same steps, so a query term written as "Мінськ", "МІНСЬК" or
"мінськ" finds the same words in the text.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["joins_words", "normalise", "word_spans", "words"]

# Tags, comments and declarations as found in feed summaries; a lone "<" in prose is left
# alone. Linear time: a match never runs past the next "<" or ">".
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")

# Invisible inside words: soft hyphen, zero-width space, non-joiner and joiner, word joiner,
# and the byte-order mark (zero-width no-break space).
_INVISIBLE = ("\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")

# After NFKC and case folding:
# - combining accents that NFKC could not compose away: the stress marks of Russian and
#   Ukrainian texts ("Мі́нськ") and the dot that case folding leaves on "İ"; they would
#   otherwise split a word in two;
# - "ё" becomes "е", as most Russian text writes it;
# - every apostrophe-like character becomes "'" (U+02BC is a letter to Unicode, so it would
#   join words otherwise).
_REPLACE = (
    ("\u0300", ""),
    ("\u0301", ""),
    ("\u0307", ""),
    ("ё", "е"),
    ("\u2019", "'"),
    ("\u02bc", "'"),
    ("\u2018", "'"),
)

# A word is a run of letters and digits; "_", apostrophes and everything else separate words.
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Return `text` ready for matching: tags stripped, NFKC, case-folded, ё→е, apostrophes
    unified, soft hyphens and zero-width characters removed."""
    # Substring tests and str.replace are C-speed; str.translate or a character-class regex
    # over a whole item costs ten to a hundred times more.
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        for char in _INVISIBLE:
            if char in text:
                text = text.replace(char, "")
        text = unicodedata.normalize("NFKC", text).casefold()
        for char, replacement in _REPLACE:
            if char in text:
                text = text.replace(char, replacement)
    else:
        text = text.casefold()
    if "`" in text:
        text = text.replace("`", "'")
    return text


def words(normalised: str) -> list[str]:
    """Split normalised text into its words, in order."""
    return _WORD.findall(normalised)


def word_spans(normalised: str) -> list[tuple[int, int]]:
    """Where each of `words(normalised)` starts and ends in `normalised`."""
    return [m.span() for m in _WORD.finditer(normalised)]


def joins_words(gap: str) -> bool:
    """Whether `gap`, the text between two words, is an apostrophe or a hyphen inside a word
    (`libya's`, `al-qaeda`): punctuation that an alert shows and a query may contain."""
    return gap == "'" or (len(gap) == 1 and unicodedata.category(gap) == "Pd")

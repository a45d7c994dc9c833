"""Search keys for names: full pinyin and pinyin initials, so 成都 is found by "cd"."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin


def _keep_other(chars: str) -> list[str]:
    # Latin letters and digits in a name ("3号车间", "ABC公司") stay searchable as typed.
    return [c.lower() for c in chars if c.isalnum()]


def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials) of a name, lower case, without spaces."""
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors=_keep_other)
    full = "".join(syllables)
    initials = "".join(s[0] for s in syllables if s)
    return full[:400], initials[:120]


def looks_like_pinyin(query: str) -> bool:
    return query.isascii() and query.replace(" ", "").isalpha()

"""Untrusted text on the page: every value from a link, a run file or a user is shown through `plain`."""

from __future__ import annotations

import re
import string

MAX_CHARS = 120  # a value echoed in a notice; a 10,000-character link value would bury the notice
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_SPACE = re.compile(r"\s+")
CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x9f\ud800-\udfff]")  # what a browser would show as junk
# remark-gfm in Streamlit's frontend links bare http://, https://, www. and user@host in the text
# *after* backslash escapes are resolved, so escaping cannot stop it: an invisible word joiner can.
AUTOLINK = re.compile(r"(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=[-.\w+])(?=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"  # zero width, no line break: the reader sees the text unchanged


def plain(value: object, limit: int | None = MAX_CHARS) -> str:
    """Return `value` as markdown that Streamlit shows exactly as typed: no link, image, HTML, code or colour.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of
    them), which also disarms Streamlit's own `:colour[...]`, `:emoji:` and `$math$`; runs of
    white space become one space, so a value cannot open a heading, list or code block; control
    characters become U+FFFD, as a CommonMark renderer shows NUL. A word joiner (U+2060) goes
    after `http`/`https` before `:`, after `www` before `.` and before `@`, where Streamlit
    would otherwise make a bare `http://evil.example` or `a@evil.example` a live link.
    Never put the result inside a code span: backslashes are literal there.
    """
    text = _SPACE.sub(" ", CONTROL_CHARS.sub("\ufffd", str(value))).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _PUNCTUATION.sub(r"\\\1", AUTOLINK.sub(WORD_JOINER, text))

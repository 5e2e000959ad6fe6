"""vizcore.ui.text.plain: untrusted values rendered by a CommonMark renderer come out as typed text."""

import html
import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from vizcore.ui.text import CONTROL_CHARS, MAX_CHARS, WORD_JOINER, plain

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
ATTACKS = [
    "[Log in here](http://evil.example/login)",
    "![x](http://evil.example/x.png)",
    "a` [Log in here](http://evil.example/login) `b",
    "<a href='http://evil.example'>x</a><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "# heading\n\n* list\n\n    code",
    ":red[alarm] :smile: $x^2$",
    "&lt;b&gt; &amp; **bold** __b__ _i_ ~~s~~",
    "http://evil.example/autolink <http://evil.example/angle>",
    "\\[still\\](escaped)",
    "www.evil.example me@evil.example HTTPS://evil.example mailto:me@evil.example",
]
# What remark-gfm (Streamlit's frontend) links in a text node, after escapes are resolved:
# mdast-util-gfm-autolink-literal's patterns for URLs and e-mail addresses.
GFM_AUTOLINK = re.compile(r"(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+", re.IGNORECASE | re.ASCII)


def rendered_text(markdown: str) -> tuple[str, str]:
    """Return (the HTML CommonMark makes of `markdown`, that HTML's text with tags dropped and entities decoded)."""
    out = MD.render(markdown)
    inner = out.strip()
    assert inner.startswith("<p>") and inner.endswith("</p>"), out  # one plain paragraph, nothing else
    text = html.unescape(inner[3:-4])
    assert not GFM_AUTOLINK.search(text), text  # Streamlit would link it
    return out, text.replace(WORD_JOINER, "")  # the joiner is invisible


def test_known_attacks_render_as_the_text_that_was_typed():
    for attack in ATTACKS:
        out, text = rendered_text(plain(attack, limit=None))
        assert "<a " not in out and "<img" not in out and "<code" not in out and "<em" not in out, out
        assert text == " ".join(attack.split()), out


@given(st.text(min_size=1, max_size=300))
def test_any_text_renders_as_itself_and_never_as_markup(value):
    shown = plain(value, limit=None)
    if not shown:
        return
    out, text = rendered_text(shown)
    assert text == " ".join(CONTROL_CHARS.sub("\ufffd", value).split())
    assert out.count("<") == 2  # only <p> and </p>


def test_long_values_are_cut_with_an_ellipsis():
    assert len(plain("x" * 10_000)) == MAX_CHARS
    assert plain("x" * 10_000).endswith("…")

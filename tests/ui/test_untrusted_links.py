"""A link, a run file or typed text never puts markup on the page: every page, every parameter, in AppTest.

NormLab is opened from links that teachers and students pass around, so every query parameter
is untrusted. Each test opens the app with hostile values (markdown links and images, HTML,
backticks that close a code span, Streamlit's `:red[...]`, `$math$` and emoji codes, 10,000
characters) and renders every markdown-bearing string of every element (alerts, markdown,
captions, headings, progress text, widget labels and help) with a CommonMark renderer, plus
the bare URLs and e-mail addresses Streamlit's remark-gfm links even when escaped. Nothing may
bring a link, an image or raw HTML that the same page does not show for a harmless link (its
baseline), and no new text may hold an unescaped `](`, backtick, `$`, `<`, `:x[` or
`evil.example`. Plotly figures (st.plotly_chart and the Live lab's chart components) render
`<a href>` too: no string in their specs may hold such a tag unless the baseline does.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, shown
from vizcore.engine.config import FIELD_TYPES
from vizcore.engine.params import NON_CONFIG_PARAMS
from vizcore.ui.routing import PAGES

PAGE_FILES = [path for path, _, _ in PAGES]
NAMES = sorted(FIELD_TYPES) + sorted(NON_CONFIG_PARAMS) + ["exp"]  # every parameter the app reads
LINK = "[Log in here](http://evil.example/login)"
CODE_BREAK = f"a` {LINK} `b"  # closed the Experiments page's code span
ATTACKS = [
    LINK,
    CODE_BREAK,
    "![x](http://evil.example/x.png)",
    "<a href='http://evil.example/login'>Log in</a><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<http://evil.example/angle> http://evil.example/bare",
    "[ref]\n\n[ref]: http://evil.example/ref",
    "# heading\n\n* list\n\n    code\n\n> quote",
    ":red[alarm] :blue-background[x] :material/warning: :smile: $x^2$ $$\\frac{a}{b}$$",
    "**bold** __b__ _i_ ~~s~~ &lt;b&gt; &amp; &#60;a&#62;",
    "\\[still\\](http://evil.example/escaped) \\` \\\\` x",
    "| a | b |\n|---|---|\n| [x](http://evil.example/t) | y |",
    "batch` [Log in here](http://evil.example/login)",
    "0.1 [Log in here](http://evil.example/login)",
]
FRAGMENTS = ["[", "]", "(", ")", "`", "``", "<", ">", "!", "*", "_", "~", "$", ":", "\\", "#", "|", "&", "\n", " "]
FRAGMENTS += ["http://evil.example/x", "a href=", "red", "smile", "img", "script", "batch", "0.1", "64", "1"]
VALID = ["batch", "layer", "0.1", "64", "1", "true", "norm,depth", "depth", "cnn"]  # values some parameter takes
LONG = 10_000

MD = MarkdownIt("commonmark", {"linkify": False}).enable(["table", "strikethrough"])
# Proto fields whose text Streamlit renders as markdown (alert and markdown bodies, headings, progress
# text, widget labels and help, radio and button-group options, captions); code, JSON and data are not.
MARKDOWN_FIELDS = {
    "body",
    "text",
    "label",
    "help",
    "message",
    "caption",
    "captions",
    "placeholder",
    "options",
    "content",
}
NOT_MARKDOWN = {"Code", "Json", "PlotlyChart", "Arrow", "ArrowNamedDataSet", "DownloadButton"}
UNESCAPED = re.compile(r"\]\(|evil\.example|`|\$|<|:[a-z][\w/-]*\[")  # searched with backslash escapes removed
# What remark-gfm in Streamlit's frontend links in a text node once escapes are resolved (so escaping
# cannot stop it): mdast-util-gfm-autolink-literal's URL and e-mail patterns.
GFM_AUTOLINK = re.compile(r"(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+", re.IGNORECASE | re.ASCII)
PUNCTUATION_ESCAPE = re.compile("\\\\([" + re.escape(string.punctuation) + "])")
PLOTLY_TAG = re.compile(r"<\s*/?\s*(a|img|script|iframe|style)\b", re.I)  # a link, or worse, in a plotly text
MAX_NEW_CHARS = 2_000  # a notice echoes at most a few hundred characters of a value

long_value = st.sampled_from(ATTACKS + FRAGMENTS[:-2]).map(lambda s: (s * (LONG // len(s) + 1))[:LONG])
values = st.one_of(
    st.sampled_from(ATTACKS),
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join),
    st.tuples(st.sampled_from(VALID), st.sampled_from(ATTACKS)).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    long_value,
)
hostile_names = st.sampled_from([LINK, CODE_BREAK, "<b>x</b>", "$x$"])
links = st.tuples(st.dictionaries(st.sampled_from(NAMES), values, min_size=1, max_size=8), st.none() | hostile_names)


# ----------------------------------------------------------------- reading what the page shows


def markup(text: str) -> set[tuple[str, str]]:
    """Return the links, images and raw HTML `text` makes: {("a", href), ("img", src), ("html", tag)}.

    CommonMark's, and the bare URLs and e-mail addresses Streamlit's remark-gfm links ("a", "gfm:" + match).
    """
    found = {("a", "gfm:" + m.group(0)) for m in GFM_AUTOLINK.finditer(PUNCTUATION_ESCAPE.sub(r"\1", text))}

    def visit(tokens) -> None:
        for t in tokens:
            if t.type == "link_open":
                found.add(("a", str(t.attrGet("href"))))
            elif t.type == "image":
                found.add(("img", str(t.attrGet("src"))))
            elif t.type in ("html_inline", "html_block"):
                found.add(("html", t.content.strip()))
            if t.children:
                visit(t.children)

    visit(MD.parse(text))
    return found


def _nodes(node) -> Iterator:
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _nodes(child)


def _proto_strings(msg, out: list[str]) -> None:
    if type(msg).__name__ in NOT_MARKDOWN:
        return
    for field, value in msg.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for m in [value] if isinstance(value, Message) else value:  # a repeated field: each item
                _proto_strings(m, out)
        elif field.type == field.TYPE_STRING and field.name in MARKDOWN_FIELDS:
            out.extend([value] if isinstance(value, str) else value)


def snapshot(at: AppTest) -> tuple[list[str], list[str], list[str]]:
    """Return what the page shows: (its elements' markdown strings, the strings in its plotly specs, exceptions)."""
    texts: list[str] = []
    plotly: list[str] = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if type(proto).__name__ == "PlotlyChart":
            plotly.extend(_json_strings(json.loads(proto.spec)))
        elif getattr(node, "type", None) == "bidi_component":  # the Live lab's charts: a figure for Plotly.react
            plotly.extend(_json_strings(json.loads(proto.bytes)))
        else:
            _proto_strings(proto, texts)
    return texts, plotly, [e.value for e in at.exception]


def _json_strings(obj) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _json_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _json_strings(v)


def _template(text: str) -> str:
    return re.sub(r"[0-9a-f]{16}|[0-9][0-9.,]*", "#", text)


def assert_no_foreign_markup(shows: tuple, baseline: tuple) -> None:
    """Fail if a page shows an exception, or markup, markdown syntax or length its baseline does not have."""
    texts, plotly, exceptions = shows
    base_texts, base_plotly, _ = baseline
    assert not exceptions, exceptions
    allowed = set().union(*(markup(t) for t in base_texts))
    seen = {_template(t) for t in base_texts}
    for text in texts:
        new = markup(text) - allowed
        assert not new, (new, text[:500])
        if _template(text) in seen:  # the app's own sentence, maybe with another number or run id
            continue
        bare = re.sub(r"\\[\s\S]", "", text)  # what is left once every backslash escape is taken out
        assert not UNESCAPED.search(bare), (UNESCAPED.search(bare), text[:500])
        assert len(text) <= MAX_NEW_CHARS, text[:200]
    old = set(base_plotly)
    for s in plotly:
        assert s in old or not PLOTLY_TAG.search(s), s[:500]


# ----------------------------------------------------------------- opening the app


def open_page(page: str, params: dict[str, str]) -> dict[str, tuple]:
    """Open the app with `params` in the link, then `page` with the same link; return what each showed, by page.

    The first run is the default page (the landing, or the Live lab for a link with its settings); `page` is then
    opened as a direct link would (AppTest needs one run before it can switch pages).
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    shows = {PAGE_FILES[0]: snapshot(at)}
    if page != PAGE_FILES[0]:
        at.query_params.clear()
        at.query_params.update(params)
        at.switch_page(page).run()
        shows[page] = snapshot(at)
    return shows


def check(page: str, params: dict[str, str], baselines: dict) -> dict[str, tuple]:
    """Open `page` with `params`; check the Live lab's run and the page's run against their baselines."""
    shows = open_page(page, params)
    for name, seen in shows.items():
        assert_no_foreign_markup(seen, baselines[name])
    return shows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding one real run, so the Saved runs page draws its table, picker and buttons."""
    from vizcore import RunConfig, Trainer
    from vizcore.runs.store import RunStore
    from vizcore.ui.widgets import get_store

    root = tmp_path_factory.mktemp("runs")
    RunStore(root).save(Trainer(RunConfig(dataset="xor", steps=20, depth=2, width=8)).run())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NORMLAB_RUNS", str(root))
        get_store.clear()
        yield root
    get_store.clear()


@pytest.fixture(scope="module")
def baselines(store) -> dict:
    """Each page's own markup for a harmless link, computed once (one session visits every page)."""
    params = {"norm": "layer", "exp": "depth"}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    out = {PAGE_FILES[0]: snapshot(at.run())}
    for page in PAGE_FILES[1:]:
        at.query_params.clear()
        at.query_params.update(params)
        out[page] = snapshot(at.switch_page(page).run())
    # "/" is the Start-here landing, or the Live lab when the link holds Live-lab settings: either is its own
    landing = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    landing.query_params.update({"classroom": "1", "done": "sigmoid"})
    out[PAGE_FILES[0]] = tuple(a + b for a, b in zip(out[PAGE_FILES[0]], snapshot(landing.run()), strict=True))
    for page, seen in out.items():
        assert not seen[2], (page, seen[2])
    return out


def spread(attacks: list[str]) -> dict[str, str]:
    """Return a link giving every parameter name an attack: each attack once as it is, once 10,000 characters long."""
    n = len(attacks)
    params = {}
    for i, name in enumerate(NAMES):
        attack = attacks[i % n]
        params[name] = (attack * (LONG // len(attack) + 1))[:LONG] if (i // n) % 2 else attack
    return params


# ----------------------------------------------------------------- the two known attacks


def test_a_markdown_link_in_norm_is_named_as_text(baselines):
    shows = check(PAGE_FILES[0], {"norm": LINK}, baselines)
    notices = [shown(t) for t in shows[PAGE_FILES[0]][0] if "norm=" in shown(t)]
    assert len(notices) == 1
    assert notices[0].count(LINK) == 2, notices  # `norm=<it>` and "unknown norm '<it>'", each as typed


def test_a_backtick_cannot_close_the_experiment_notice(baselines):
    shows = check("pages/experiments.py", {"exp": CODE_BREAK}, baselines)
    notices = [shown(t) for t in shows["pages/experiments.py"][0] if "There is no experiment" in t]
    assert len(notices) == 1 and CODE_BREAK in notices[0], notices


# ----------------------------------------------------------------- every page, every parameter


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_parameter_with_every_attack(page, baselines):
    check(page, {**spread(ATTACKS), LINK: "1", "<b>x</b>": "1"}, baselines)  # names too: unknown ones are echoed


@pytest.mark.parametrize("page", PAGE_FILES)
@settings(max_examples=3, deadline=None)
@given(link=links)
def test_random_hostile_links(page, link, baselines):
    params, name = link
    check(page, {**params, **({name: "x"} if name else {})}, baselines)


# ----------------------------------------------------------------- what a student types


def compare_with(knob: str, typed: list[str]) -> AppTest:
    """Open Compare, choose `knob` and type `typed` into its values (accept_new_options)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="cmp_knob").set_value(knob).run()
    return at.multiselect(key=f"cmp_values_{knob}").set_value(typed).run()


def test_typed_variant_values_are_shown_as_text(baselines):
    from vizcore.labs.compare import KNOBS

    for knob in ("norm", "batch_size", "lr"):  # a choice, a whole number, a number: every knob is one of these
        assert knob in KNOBS
        at = compare_with(knob, [LINK, CODE_BREAK, "<img src=x onerror=alert(1)>"])
        assert_no_foreign_markup(snapshot(at), baselines["pages/compare.py"])
        skipped = [shown(w.value) for w in at.warning if "is skipped" in w.value]
        assert any(LINK in s for s in skipped) and any(CODE_BREAK in s for s in skipped), (knob, skipped)


@settings(max_examples=4, deadline=None)
@given(knob=st.sampled_from(["norm", "batch_size", "lr"]), typed=st.lists(values, min_size=1, max_size=3))
def test_random_typed_variant_values(knob, typed, baselines):
    assert_no_foreign_markup(snapshot(compare_with(knob, typed)), baselines["pages/compare.py"])


# ----------------------------------------------------------------- run files in the shared store


def open_saved_run(run_id: str) -> tuple[tuple, tuple]:
    """Return what the Saved runs page shows, and the Live lab after "Open in the Live lab" on run `run_id`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/runs.py").run()
    runs_page = snapshot(at)
    next(s for s in at.selectbox if s.label == "Run").set_value(run_id).run()
    next(b for b in at.button if b.label == "Open in the Live lab").click().run()
    return runs_page, snapshot(at)


def test_hostile_run_files_in_the_store_are_shown_as_text(store_dir):
    """Anyone on the server can put a file in the store: its names, values and errors stay text, in plotly too.

    The baseline is the same run, harmless, opened the same way before the hostile files arrive.
    """
    from vizcore import RunConfig, Trainer
    from vizcore.engine import runfile

    evil_html = "<a href='http://evil.example/login'>Log in</a>"
    run = Trainer(RunConfig(dataset="moons", steps=30, depth=2, width=8, every=5, eval_every=10)).run()
    run["status"], run["diverged_at"] = "diverged", 3
    runfile.save(run, store_dir / "00000000000000dd.json")
    baseline = open_saved_run("00000000000000dd")

    run["diverged_at"], run["config"] = LINK, {**run["config"], "seed": 1}  # another name in the run picker
    run["meta"] = {**run.get("meta", {}), "saturation_rule": evil_html}
    for layer, name in zip(run["layers"], [LINK, evil_html], strict=True):
        layer["name"] = name
    runfile.save(run, store_dir / "00000000000000aa.json")
    runfile.save({**run, "format": evil_html}, store_dir / "00000000000000bb.json")
    runfile.save({**run, "config": {"norm": LINK}}, store_dir / "00000000000000cc.json")
    sly = "a` [Log in here](http:evil.example) `b"  # a file name has no slash
    runfile.save(run, store_dir / f"{sly}.json")
    (store_dir / "<img src=x onerror=alert(1)>.json").write_text("{not json " + LINK)

    runs_page, live = open_saved_run("00000000000000aa")
    assert_no_foreign_markup(runs_page, baseline[0])
    skipped = [shown(t) for t in runs_page[0] if t.startswith("Skipped")]
    assert len(skipped) == 4 and any(sly in s for s in skipped), skipped
    assert_no_foreign_markup(live, baseline[1])
    assert any(LINK in shown(t) for t in live[0] if "diverged at step" in t)  # the value, as typed
    assert any("&lt;a href=" in s for s in live[1])  # the block's name, escaped for plotly

"""Streamlit widgets for a RunConfig: the one vizcore module that imports Streamlit.

`config_controls` draws every RunConfig field, seeds them from the URL once per
session (bad values fall back to their defaults with a visible notice), writes
the non-default ones back to the URL so the link reproduces the run, and shows a
ConfigError beside the control it names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vizcore.engine.config import CHOICES, FIELD_TYPES, RANGES, ConfigError, RunConfig
from vizcore.engine.params import NON_CONFIG_PARAMS, hidden_fields, parse_params, to_params
from vizcore.ui.text import plain
from vizcore.workers import settings

if TYPE_CHECKING:
    from vizcore.runs.store import RunStore

LABELS: dict[str, tuple[str, str]] = {
    # field: (label, help)
    "dataset": ("Dataset", "digits: 1,797 real 8x8 handwritten digits. The others are 2-D point sets."),
    "noise": ("Noise (2-D sets)", "How much the 2-D points are jittered."),
    "standardize": ("Standardize inputs", "Zero mean, unit variance per input feature (training statistics)."),
    "train_size": ("Training examples (0 = all)", "Fewer examples make overfitting visible."),
    "shift": ("Test-time shift", "Added to every test input: external covariate shift."),
    "scale": ("Test-time scale", "Multiplies every test input."),
    "model": ("Model", "mlp: fully connected; cnn: convolutional (digits only)."),
    "depth": ("Hidden blocks", "Each block is Linear -> norm -> activation (or act -> norm)."),
    "width": ("Width", "Units per block (channels for a cnn)."),
    "activation": ("Activation", None),
    "norm": (
        "Normalization",
        "batch: over the batch, per unit. layer/rms: over the units of one example. "
        "group: over groups of units. instance: per channel of one image (cnn).",
    ),
    "placement": ("Placement", "before: Linear -> norm -> act (Ioffe & Szegedy). after: Linear -> act -> norm."),
    "groups": (
        "Groups (group norm)",
        "Must divide the width. 1 = layer norm; cnn: width = instance norm. An mlp needs 2+ units a group.",
    ),
    "eps": ("eps", "Added to the variance before the square root."),
    "momentum": ("Running-average momentum", "Batch norm's running statistics: new = (1-m) old + m batch."),
    "affine": ("Learned scale and shift", "gamma and beta after normalizing."),
    "norm_noise": ("Noisy norm (Santurkar)", "Per-unit scale and shift noise after each norm, new every step."),
    "init": ("Initialization", None),
    "init_scale": ("Init scale", "Multiplies every initial weight: below 1 activations vanish, above 1 they explode."),
    "optimizer": ("Optimizer", None),
    "lr": ("Learning rate", None),
    "batch_size": ("Batch size", "Examples per step. Batch norm estimates its statistics from these."),
    "steps": ("Steps", None),
    "seed": ("Seed", "Initial weights and batch order. The data split never changes."),
    "every": ("Snapshot every (steps)", "How often each layer's distributions are recorded."),
    "eval_every": ("Test every (steps)", "How often the test set is evaluated."),
    "bins": ("Histogram bins", None),
    "max_snapshots": ("Frames kept", "Older frames are thinned 2:1 beyond this, so memory stays flat."),
    "probe_size": (
        "Probe examples (0 = off)",
        "Fixed training examples measured at every snapshot: shift on the same inputs, apart from batch noise.",
    ),
}

SECTIONS: list[tuple[str, list[str], bool]] = [
    # (title, fields, expanded)
    ("Normalization", ["norm", "placement", "groups", "batch_size", "momentum", "eps", "affine", "norm_noise"], True),
    ("Model", ["model", "depth", "width", "activation", "init", "init_scale"], True),
    ("Data", ["dataset", "noise", "standardize", "train_size", "shift", "scale"], False),
    ("Training", ["optimizer", "lr", "steps", "seed"], False),
    ("Recording", ["every", "eval_every", "bins", "max_snapshots", "probe_size"], False),
]


def _widget(name: str, key: str, container, choices: "list[str] | None" = None) -> None:
    label, help_ = LABELS[name]
    kind = FIELD_TYPES[name]
    if name in CHOICES:
        container.selectbox(label, choices or CHOICES[name], key=key, help=help_, persist_state="session")
    elif kind is bool:
        container.toggle(label, key=key, help=help_, persist_state="session")
    elif kind is int:
        lo, hi = RANGES.get(name, (0, 2**31 - 1))
        container.number_input(
            label, min_value=int(lo), max_value=int(hi), step=1, key=key, help=help_, persist_state="session"
        )
    else:
        lo, hi = RANGES[name]
        fmt = "%.0e" if name == "eps" else "%.4g"
        container.number_input(
            label, min_value=float(lo), max_value=float(hi), format=fmt, key=key, help=help_, persist_state="session"
        )


def config_controls(
    prefix: str = "cfg_",
    container=None,
    sync_url: bool = True,
    base: RunConfig | None = None,
    hide: tuple[str, ...] = (),
) -> RunConfig | None:
    """Draw a control for every RunConfig field; return the valid config, or None (the error shown beside).

    `hide`: fields the page sets itself (they keep `base`'s value): a second control for them would do nothing.
    """
    container = container if container is not None else st.sidebar
    params = {k: st.query_params[k] for k in st.query_params}
    hidden = (hidden_fields(params) if sync_url else set()) | set(hide)
    seeded = f"{prefix}seeded"
    if seeded not in st.session_state:  # once per session: the link, then the widgets own the values
        cfg, notices = parse_params(params, base) if sync_url else (base or RunConfig(), [])
        for name, value in cfg.to_dict().items():
            st.session_state[prefix + name] = value
        st.session_state[seeded] = True
        st.session_state[f"{prefix}notices"] = notices
    for notice in st.session_state.get(f"{prefix}notices", []):  # they echo the link's values
        container.warning(plain(notice, limit=400))
    slots = {}
    for title, names, expanded in SECTIONS:
        shown = [n for n in names if n not in hidden]
        if not shown:
            continue
        box = container.expander(title, expanded=expanded)
        for name in shown:
            _widget(name, prefix + name, box, _choices(name, prefix, hidden))
            slots[name] = box.empty()
    try:
        cfg = RunConfig.from_dict(_state_values(prefix))
    except ConfigError as e:
        where = slots.get(e.field, container)
        where.error(f"**{LABELS.get(e.field, (e.field,))[0]}**: {plain(e.message, limit=400)}")
        return None
    if sync_url:
        keep = {k: params[k] for k in NON_CONFIG_PARAMS if k in params}
        wanted = {**to_params(cfg), **keep}
        if wanted != params:
            st.query_params.from_dict(wanted)
    return cfg


def visible(field: str) -> bool:
    """Return True unless this page's link hides `field`'s control (`?classroom=1`, `?hide=...`)."""
    return field not in hidden_fields({k: st.query_params[k] for k in st.query_params})


def explain_invalid(buttons: str, extra: str = "") -> None:
    """Say in the main area why `buttons` are off: the sidebar's own message may be out of sight."""
    st.warning(
        f"The settings in the sidebar do not fit together (the message there says why): {buttons} "
        f"off until they do.{' ' + extra if extra else ''}"
    )


def _choices(name: str, prefix: str, hidden: set[str]) -> "list[str] | None":
    """Return the options to offer for `name`, or None for all of them.

    With the model hidden (a classroom link) and an mlp, instance norm is left out: its error would
    say "use model cnn", which the student cannot do. The current value always stays on the list.
    """
    if name != "norm" or "model" not in hidden or st.session_state.get(prefix + "model") != "mlp":
        return None
    return [c for c in CHOICES[name] if c != "instance" or st.session_state.get(prefix + name) == c]


def _state_values(prefix: str) -> dict:
    return {f.name: st.session_state[prefix + f.name] for f in fields(RunConfig)}


def config_from_state(prefix: str) -> RunConfig | None:
    """Return the config that `config_controls(prefix)` widgets hold now, or None if invalid or not drawn yet.

    For button callbacks, which run before the script draws the widgets again.
    """
    try:
        return RunConfig.from_dict(_state_values(prefix))
    except (ConfigError, KeyError):
        return None


def open_page(page: str, prefix: str, cfg: RunConfig) -> None:
    """Switch to `page` with its config controls (keys `prefix` + field) set to `cfg`."""
    for name, value in cfg.to_dict().items():
        st.session_state[prefix + name] = value
    st.session_state[f"{prefix}seeded"] = True
    st.switch_page(page)


def base_url() -> str:
    """Return the address this server was reached at (NORMLAB_PUBLIC_URL if set), with no trailing slash.

    From the visitor's own request (Host, or a proxy's X-Forwarded-Host/-Proto), so a link copied in
    class names the address students can open, not localhost.
    """
    public = settings.public_url()
    if public:
        return public
    try:
        headers = st.context.headers
        host = headers.get("X-Forwarded-Host") or headers.get("Host")
        proto = (headers.get("X-Forwarded-Proto") or "http").split(",")[0].strip()
    except Exception:  # no request (a script run outside a server)
        host, proto = None, "http"
    path = str(st.get_option("server.baseUrlPath") or "").strip("/")
    root = f"{proto}://{host or 'localhost:8501'}"
    return f"{root}/{path}" if path else root


def share_link(cfg: RunConfig, extra: dict[str, str] | None = None, page: str = "live") -> str:
    """Return a valid link that opens `page` (its URL path; "" is the Start-here landing) with `cfg` and `extra`."""
    query = urlencode({**to_params(cfg), **(extra or {})})
    return f"{base_url()}/{page}" + (f"?{query}" if query else "")


def share_popover(cfg: RunConfig | None, where=None) -> None:
    """Draw the "Share" popover: a ready link for students (main controls only) and the full one."""
    if cfg is None:
        return
    with (where if where is not None else st).popover("Share"):
        st.caption(
            "For students: these settings, with only the main controls (dataset, norm, placement, batch "
            "size, activation, learning rate, depth)."
        )
        st.code(share_link(cfg, {"classroom": "1"}), language=None)
        st.caption("Everything: these settings and every control.")
        st.code(share_link(cfg), language=None)


@st.cache_resource
def get_store() -> "RunStore":
    """Return the server's run store (NORMLAB_RUNS, default ./runs), shared by every session."""
    from vizcore.runs.store import RunStore

    return RunStore()


def downloads(run: dict, container=None) -> None:
    """Draw download buttons for a run: the JSON run file and two CSVs."""
    from vizcore.engine import runfile
    from vizcore.runs.store import layers_csv, to_csv

    c = container if container is not None else st
    cfg = run["config"]
    name = f"normlab-{cfg['dataset']}-{cfg['norm']}-b{cfg['batch_size']}-s{cfg['seed']}"
    cols = c.columns(3)
    # Built on click (Streamlit's deferred downloads), not on every redraw: the run file alone
    # took 30-40 ms a session, and a class of sessions ending at once redrew them all together.
    cols[0].download_button(
        "Run file (JSON)", lambda: runfile.dumps(run), f"{name}.json", "application/json", on_click="ignore"
    )
    cols[1].download_button("Curves (CSV)", lambda: to_csv(run), f"{name}-curves.csv", "text/csv", on_click="ignore")
    cols[2].download_button(
        "Layers (CSV)", lambda: layers_csv(run), f"{name}-layers.csv", "text/csv", on_click="ignore"
    )


def on_full_run(callback: Callable[..., None]) -> Callable[..., None]:
    """Return `callback` made to act in full script runs only: an on_click for a button outside fragments.

    Streamlit 1.67's frontend can send one click twice: with a fragment's timed poll that leaves
    at that moment, and with the click's own full rerun; each fires the callback, so a Pause
    could pause and at once resume. The click's full rerun always comes, so the call made in
    a fragment run is the duplicate (tests/test_protocol.py sends both, as Chromium does).
    """

    @functools.wraps(callback)
    def full_run_only(*args: object, **kwargs: object) -> None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:
            return
        callback(*args, **kwargs)

    return full_run_only

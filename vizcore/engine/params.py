"""URL parameters <-> RunConfig, shared by the app, the experiments and the tests (no Streamlit).

Only fields that differ from the defaults go into a link; reading one, every bad
value falls back to its default with a notice that names it. A value outside its field's
range is bad even where the link's norm ignores the field (`?groups=0` with batch norm):
the same rule as the command line and RunConfig (engine.config.validate).
"""

from __future__ import annotations

from vizcore.engine.config import FIELD_TYPES, ConfigError, RunConfig, coerce

# What a teacher's `?classroom=1` link keeps visible.
CLASSROOM_FIELDS = {"dataset", "norm", "placement", "batch_size", "activation", "lr", "depth"}
# How the Live lab shows a run, not what it trains: kept in the link, never part of a RunConfig.
VIEW_CHOICES: dict[str, tuple[str, ...]] = {
    "pace": ("5", "25", "100", "400", "max"),  # steps per second a class can follow; max: as fast as it goes
    "zoom": ("all", "500"),  # the steps the curves and heatmaps show: the whole run, or the first 500
    "present": ("0", "1"),  # presenter mode: large type for a projector
    "tap": ("linear", "norm", "act"),  # where in each block the distribution charts look
}
VIEW_DEFAULTS = {"pace": "25", "zoom": "all", "present": "0", "tap": "act"}
# A student's Start-here path (vizcore.labs.missions reads them): the mission, its answers, the missions done.
PROGRESS_PARAMS = ("mission", "answers", "done")
NON_CONFIG_PARAMS = {"hide", "classroom", *VIEW_CHOICES, *PROGRESS_PARAMS}


def parse_params(params: dict[str, str], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """Return (config, notices) from URL parameters; bad values fall back to defaults, each with a notice.

    The link's values are judged together, not each against the defaults: `model=cnn&norm=instance`
    is a valid link although instance norm alone would not fit the default mlp. A value that
    cannot be read is dropped first; then, while the values conflict, the link value the error
    names (or, if it names a default, the latest link value whose removal resolves it) is dropped.
    """
    base = base or RunConfig()
    values = base.to_dict()
    notices, taken = [], {}  # taken: name -> the raw link text, in link order
    for name, raw in params.items():
        if name in NON_CONFIG_PARAMS:
            continue
        if name not in FIELD_TYPES:
            notices.append(f"Ignored unknown link parameter `{name}`.")
            continue
        try:
            values[name] = coerce(name, raw)
            taken[name] = raw
        except ConfigError as e:
            notices.append(f"Link parameter `{name}={raw}` is not valid ({e.message}); using {values[name]!r}.")
    for _ in range(len(taken) + 1):
        try:
            return RunConfig.from_dict(values), notices
        except ConfigError as e:
            culprit = e.field if e.field in taken else _resolver(values, taken, base)
            if culprit is None:
                break
            default = getattr(base, culprit)
            values[culprit] = default
            raw = taken.pop(culprit)
            alone = _valid_alone(culprit, raw, base)
            why = e.message if e.field == culprit or not alone else f"{e.field}: {e.message}"
            where = " with the link's other settings" if alone else ""
            notices.append(f"Link parameter `{culprit}={raw}` is not valid{where} ({why}); using {default!r}.")
    return base, notices + ["The link's settings do not fit together; using the defaults."]


def _valid_alone(name: str, raw: str, base: RunConfig) -> bool:
    """Return True if `name=raw` is valid on `base` by itself (so only the combination is at fault)."""
    try:
        RunConfig.from_dict({**base.to_dict(), name: coerce(name, raw)})
        return True
    except ConfigError:
        return False


def _resolver(values: dict, taken: dict[str, str], base: RunConfig) -> str | None:
    """Return the latest link value whose reset to `base` makes `values` valid, or else the latest one."""
    for name in reversed(list(taken)):
        try:
            RunConfig.from_dict({**values, name: getattr(base, name)})
            return name
        except ConfigError:
            continue
    return next(reversed(list(taken)), None)


def to_params(cfg: RunConfig) -> dict[str, str]:
    """Return the URL parameters for `cfg`: only fields that differ from the defaults."""
    default = RunConfig()
    return {k: _fmt(v) for k, v in cfg.to_dict().items() if getattr(default, k) != v}


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):  # short when that is exact (0.1, 1e-05), else every digit: a link must reproduce
        short = f"{v:g}"
        return short if float(short) == v else repr(v)
    return str(v)


def parse_view(params: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return (view settings, notices) from URL parameters: each of VIEW_CHOICES, its default when missing or bad."""
    view, notices = dict(VIEW_DEFAULTS), []
    for name, choices in VIEW_CHOICES.items():
        raw = params.get(name)
        if raw is None:
            continue
        if raw in choices:
            view[name] = raw
        else:
            valid, default = ", ".join(choices), VIEW_DEFAULTS[name]
            notices.append(f"Link parameter `{name}={raw}` is not valid (valid: {valid}); using {default!r}.")
    return view, notices


def hidden_fields(params: dict[str, str]) -> set[str]:
    """Return the fields a classroom link hides: `hide=a,b` and/or `classroom=1`."""
    hidden = {h.strip() for h in params.get("hide", "").split(",") if h.strip() in FIELD_TYPES}
    if params.get("classroom", "").lower() in ("1", "true", "yes", "on"):
        hidden |= set(FIELD_TYPES) - CLASSROOM_FIELDS
    return hidden

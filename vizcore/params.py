"""URL parameters <-> RunConfig, shared by the app, the experiments and the tests (no Streamlit).

Only fields that differ from the defaults go into a link; reading one, every bad
value falls back to its default with a notice that names it.
"""

from __future__ import annotations

from .config import FIELD_TYPES, ConfigError, RunConfig, coerce

# What a teacher's `?classroom=1` link keeps visible.
CLASSROOM_FIELDS = {"dataset", "norm", "placement", "batch_size", "activation", "lr", "depth"}
NON_CONFIG_PARAMS = {"hide", "classroom"}


def parse_params(params: dict[str, str], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """Return (config, notices) from URL parameters; bad values fall back to defaults, each with a notice."""
    base = base or RunConfig()
    values = base.to_dict()
    notices = []
    for name, raw in params.items():
        if name in NON_CONFIG_PARAMS:
            continue
        if name not in FIELD_TYPES:
            notices.append(f"Ignored unknown link parameter `{name}`.")
            continue
        try:
            value = coerce(name, raw)
            RunConfig.from_dict({**base.to_dict(), name: value})  # the value alone, on defaults
            values[name] = value
        except ConfigError as e:
            notices.append(f"Link parameter `{name}={raw}` is not valid ({e.message}); using {values[name]!r}.")
    try:
        return RunConfig.from_dict(values), notices
    except ConfigError as e:  # each value fine alone, not together: defaults for the culprit
        values[e.field] = getattr(base, e.field)
        notices.append(f"Link parameters conflict ({e}); `{e.field}` reset to {values[e.field]!r}.")
        try:
            return RunConfig.from_dict(values), notices
        except ConfigError:
            return base, notices + ["The link's settings do not fit together; using the defaults."]


def to_params(cfg: RunConfig) -> dict[str, str]:
    """Return the URL parameters for `cfg`: only fields that differ from the defaults."""
    default = RunConfig()
    return {k: _fmt(v) for k, v in cfg.to_dict().items() if getattr(default, k) != v}


def _fmt(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def hidden_fields(params: dict[str, str]) -> set[str]:
    """Return the fields a classroom link hides: `hide=a,b` and/or `classroom=1`."""
    hidden = {h.strip() for h in params.get("hide", "").split(",") if h.strip() in FIELD_TYPES}
    if params.get("classroom", "").lower() in ("1", "true", "yes", "on"):
        hidden |= set(FIELD_TYPES) - CLASSROOM_FIELDS
    return hidden

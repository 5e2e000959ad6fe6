"""The theme: titles that fit half a page and legends below the plots."""

from vizcore.figures.distributions import histograms, percentile_bands
from vizcore.figures.gradients import grad_stats
from vizcore.figures.theme import SUBTITLE_CHARS


def test_subtitles_are_wrapped_to_fit_half_a_page(bn):
    for fig in (histograms(bn, "act"), percentile_bands(bn, "act"), grad_stats(bn)):
        lines = fig.layout.title.subtitle.text.split("<br>")
        assert len(lines) > 1 and max(map(len, lines)) <= SUBTITLE_CHARS
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0  # below the plots, not on the title

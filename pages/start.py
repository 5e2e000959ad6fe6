"""Start here: what NormLab is, internal covariate shift in two sentences, and a path of missions."""

import streamlit as st

from vizcore.ui import missions
from vizcore.ui.routing import use_app_router

use_app_router()  # first: a direct link to a fresh server must still go through app.py
missions.forward_live_links()  # `/?norm=layer` links were made when "/" was the Live lab: they still open it

st.title("NormLab")
st.markdown(
    "**NormLab trains small neural networks on this server while you watch, layer by layer, what "
    "normalization (batch norm, layer norm and others) does to the numbers flowing through them.**"
)
st.markdown(
    "As a network learns, each layer's weights change, so the values every later layer receives keep "
    "shifting in mean and spread: Ioffe and Szegedy (2015) called this *internal covariate shift*. "
    "Normalization rescales those values at every step; whether that is why it helps is still debated "
    "(Santurkar et al., 2018), so here you measure it yourself."
)
missions.notices()  # bad progress values in the link are named, never raised
missions.path()  # each mission opens the Live lab with its settings, beside the same network norm switched
st.page_link("pages/live.py", label="Or go straight to the Live lab", icon=":material/biotech:")

"""NormLab: placeholder until the app lands (the engine is in vizcore/)."""

import streamlit as st

st.title("NormLab")
st.write("The engine is ready; the pages come next. Try `python -m vizcore run --help`.")

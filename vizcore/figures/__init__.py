"""Figures: pure functions, run dicts in, plotly figures out. Never imports torch, Streamlit, labs or workers."""

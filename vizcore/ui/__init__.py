"""UI: the only Streamlit code outside pages/ and app.py: widgets, routing, live views."""

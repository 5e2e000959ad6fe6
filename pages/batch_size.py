import streamlit as st

st.title("batch_size")
st.info("This page is being built.")

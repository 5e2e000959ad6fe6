import streamlit as st

st.title("covariate_shift")
st.info("This page is being built.")

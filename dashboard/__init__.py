"""Streamlit front end: the router (app.py), page views, session state, chart builders, report."""

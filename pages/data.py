"""Data page: load, inspect and set column roles."""

from dashboard.data_view import render

render()

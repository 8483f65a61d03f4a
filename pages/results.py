"""Results page: metrics, live threshold, explanations."""

from dashboard.results_view import render

render()

"""Export page: downloads and scoring with a saved model."""

from dashboard.export_view import render

render()

"""Live page: real-time scoring of a stream."""

from dashboard.live import render

render()

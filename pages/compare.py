"""Compare page: every run of the current data in one leaderboard, their agreement, and verdicts."""

from dashboard.compare_view import render

render()

"""Train page: method, parameters, training data, live progress."""

from dashboard.train_view import render

render()

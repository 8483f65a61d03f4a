"""The Train page's one line "Suggested for this data", with a button that picks the method."""

from __future__ import annotations

import streamlit as st

from core.registry import get_method, parse_method_list
from core.suggest import profile_of, suggest
from dashboard import state
from dashboard.ui import plain


def render(prepared) -> None:
    """Show the suggestion for the prepared data (made once per dataset) and a button to use it."""
    suggestion = state.suggestion(prepared.key)
    if suggestion is None:
        table = state.table()
        suggestion = suggest(profile_of(prepared.dataset, table.frame if table is not None else None))
        state.put_suggestion(prepared.key, suggestion)
    spec = get_method(suggestion.method)
    text, button = st.columns([5, 1], vertical_alignment="center")
    text.markdown(f":material/lightbulb: Suggested for this data: **{plain(spec.label)}** — {plain(suggestion.why)}")
    button.button("Use it", key="train_use_suggestion", icon=":material/check:", on_click=_pick,
                  args=(suggestion.method, suggestion.params, suggestion.calibration), help="Select this method and its parameters below.")


def _pick(method: str, params: dict, calibration: str | None) -> None:
    spec = get_method(method)
    values = {"train_family": spec.family, f"train_method_{spec.family}": method,
              "train_calibration": calibration == "likelihood"}
    for name, value in params.items():
        # a list of methods is a multiselect of their names on the form
        values[f"param_{method}_{name}"] = ([member for member, _ in parse_method_list(value)]
                                           if spec.param(name).kind == "methods" else value)
    state.preset_widgets(values)

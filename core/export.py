"""CSV output that a spreadsheet opens as data, never as formulas.

A cell or column name that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can be
run as a formula by Excel, LibreOffice or Google Sheets when someone opens the exported file (CSV
injection). Following OWASP's advice, such text is written with a leading single quote, which
spreadsheets show as text. Numbers stay numbers: ``-3.2`` (a float, or text that reads as a
number) is written as it is. Every CSV the project writes (the CLI's ``score``, the dashboard's
downloads, the streaming CSV sink) goes through :func:`escape_cell` or :func:`csv_text`.
"""

from __future__ import annotations

import math

import pandas as pd

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        return not math.isnan(float(text))
    except ValueError:
        return False


def escape_cell(value):
    """``value`` made safe for a CSV cell: risky text gets a leading ``'``; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are escaped; numeric columns untouched."""
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if column.dtype == object or isinstance(column.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            out.isetitem(position, column.astype(object).map(escape_cell))
    out.columns = [escape_cell(name) for name in out.columns]
    return out


def csv_text(frame: pd.DataFrame, path=None) -> str | None:
    """``frame`` as escaped CSV without the index: returned as text, or written to ``path``."""
    return escape_frame(frame).to_csv(path, index=False)

"""Entry point: ``streamlit run dashboard/app.py``. A router over the pages in pages/.

To add a page, add one line to ``PAGES`` (file in pages/, title, icon).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repository root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.ui import show_error  # noqa: E402

PAGES = [
    ("data.py", "Data", ":material/table_chart:"),
    ("train.py", "Train", ":material/model_training:"),
    ("results.py", "Results", ":material/insights:"),
    ("compare.py", "Compare", ":material/compare_arrows:"),
    ("export.py", "Export", ":material/download:"),
    ("live.py", "Live", ":material/sensors:"),
]


def main() -> None:
    st.set_page_config(page_title="Anomaly detection", page_icon=":material/troubleshoot:", layout="wide")
    pages = [st.Page(str(ROOT / "pages" / file), title=title, icon=icon, default=i == 0)
             for i, (file, title, icon) in enumerate(PAGES) if (ROOT / "pages" / file).exists()]
    navigation = st.navigation(pages, position="sidebar")
    from dashboard.state import restore_session

    try:
        restore_session()  # the run or training job named in the page's address, after a reload or restart
    except Exception as error:
        show_error(error, "reopening the run in the page's address")
    from dashboard.data_view import load_startup_sample

    load_startup_sample()
    try:
        navigation.run()
    except Exception as error:  # last line of defence: a message, never a traceback
        show_error(error, f"showing the {navigation.title} page")
    with st.sidebar:  # after the page, so it shows what the page just loaded or trained
        from dashboard.sidebar import render as render_sidebar

        render_sidebar()


main()

"""File and column names are shown as written, never interpreted as markdown (links, bold, icons)."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from tests.app_support import PAGE, csv_bytes, labelled_rows, no_crash, start, train, upload

NAME = "[click](javascript:alert(1)) **b** :material/bolt:.csv"
COLUMN = "[x](http://e.test)*c*"
RENDER = MarkdownIt("commonmark")


def _rendered_texts(at) -> list[tuple[str, str]]:
    """(html, visible text) of every markdown-rendering element (``at`` or ``at.sidebar``)."""
    elements = []
    for kind in ("markdown", "caption", "subheader", "success", "info", "warning", "error"):
        elements += list(getattr(at, kind))
    out = []
    for element in elements:
        rendered = RENDER.render(str(element.value))
        out.append((rendered, html.unescape(re.sub(r"<[^>]+>", "", rendered))))
    return out


def _assert_plain(at, text: str) -> int:
    shown = [(rendered, visible) for rendered, visible in _rendered_texts(at) if "click" in visible or "x](" in visible]
    for rendered, visible in shown:
        assert "<a " not in rendered and "<em>" not in rendered, rendered
        assert "<strong>b</strong>" not in rendered, rendered
    assert any(text in visible for _, visible in shown), [v for _, v in shown]
    return len(shown)


def test_file_and_column_names_render_as_plain_text():
    frame = labelled_rows(200).rename(columns={"b": COLUMN})
    at = upload(start(), NAME, csv_bytes(frame))
    no_crash(at)
    _assert_plain(at, NAME)  # the Data page's heading
    _assert_plain(at.sidebar, NAME)
    at = train(at)
    no_crash(at)
    _assert_plain(at, NAME)  # the Results header
    at.switch_page(PAGE["export"]).run()
    _assert_plain(at, NAME)

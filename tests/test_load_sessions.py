"""Sessions stay apart on one real server: two clients speaking Streamlit's websocket protocol each
upload their own file, train and move the threshold at the same time (the load benchmark's
websocket mode, small); neither ever receives the other's file name, row count or results."""

import asyncio

import pytest

from tests.bench import load_sessions
from tests.e2e.conftest import _free_port, serve_dashboard


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w")
    yield from serve_dashboard(_free_port(), log)


def test_two_sessions_at_once_see_only_their_own_data_and_results(server_url):
    args = load_sessions.arguments().parse_args(
        ["--client", "websocket", "--sessions", "2", "--moves", "2", "--stagger", "0", "--url", server_url])
    tally = asyncio.run(load_sessions.drive(args))["tally"]
    assert tally.errors == []
    assert tally.cross_talk == []
    assert len(tally.answer_latencies) == 4  # every move answered with the count expected for its own file


def test_the_closed_tab_and_the_training_details_are_drawn_once_opened(server_url, tmp_path):
    """Only the open tab and an open expander are drawn on the Results page; opening them draws them."""
    file = load_sessions.write_files(tmp_path, 1)[0]

    async def scenario(url):
        session = load_sessions.ServerSession(url)
        await session.open()
        try:
            await session.rerun()
            await session.upload(file["path"])
            await session.rerun(page="Train")
            _, button, _ = session.find("button", "Train", prefix=True, type="primary")
            await session.rerun(triggers=[button])
            shown = {"first": session.charts()}
            _, tabs, fragment = session.find_block("tab_container")
            session.set_state(tabs, string_value="Confusion matrix and curves")
            await session.rerun(fragment_id=fragment)
            shown["curves tab"] = session.charts()
            _, details, _ = session.find_block("expandable", "Training details")
            session.set_state(details, bool_value=True)
            await session.rerun()
            shown["details open"] = session.charts()
            return shown, session.errors()
        finally:
            await session.close()

    shown, errors = asyncio.run(scenario(server_url))
    assert errors == []

    def titled(specs, text):
        return any(text in spec for spec in specs)

    assert titled(shown["first"], "Anomaly score per test row") and titled(shown["first"], "Score distribution")
    assert not titled(shown["first"], "Confusion matrix") and not titled(shown["first"], "ROC curve")
    assert not titled(shown["first"], "A normal row")
    assert titled(shown["curves tab"], "Confusion matrix") and titled(shown["curves tab"], "ROC curve")
    assert not titled(shown["curves tab"], "Anomaly score per test row")
    assert titled(shown["details open"], "A normal row")

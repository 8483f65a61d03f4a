"""Sessions stay apart on one real server: two clients speaking Streamlit's websocket protocol each
upload their own file, train and move the threshold at the same time (the load benchmark's
websocket mode, small); neither ever receives the other's file name, row count or results."""

import asyncio

from tests.bench import load_sessions


def test_two_sessions_at_once_see_only_their_own_data_and_results():
    args = load_sessions.arguments().parse_args(
        ["--client", "websocket", "--sessions", "2", "--moves", "2", "--stagger", "0"])
    tally = asyncio.run(load_sessions.drive(args))["tally"]
    assert tally.errors == []
    assert tally.cross_talk == []
    assert len(tally.answer_latencies) == 4  # every move answered with the count expected for its own file

"""The workspace store on a real SQLite file and a real PostgreSQL server: runs, datasets, verdicts,
migrations, and concurrent writers (threads, and two processes on SQLite)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import uuid
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import Roles, prepare
from core.errors import DataError, WorkspaceError
from core.experiment import run_experiment
from core.workspace import SCHEMA_VERSION, Workspace, dataset_key
from tests.postgres_server import create_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent


def _dataset(seed=0, n=240, series=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 4
    frame = pd.DataFrame(X, columns=list("abc")).assign(label=y)
    roles = Roles(label="label", normal_value=0)
    if series:
        frame.insert(0, "t", pd.date_range("2024-03-01", periods=n, freq="min", tz="Europe/Paris"))
        roles.time = "t"
    return prepare(frame, roles)


def _run(dataset, method="zscore", **options):
    run = run_experiment(dataset, method, **options)
    run.table_name = "rows.csv"
    return run


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def workspace(request, tmp_path):
    if request.param == "sqlite":
        ws = Workspace(tmp_path / "ws")
    else:
        url = create_database(request.getfixturevalue("postgres"), f"ws_{uuid.uuid4().hex[:12]}")
        ws = Workspace(url, artefacts=tmp_path / "artefacts")
    yield ws
    ws.close()


def test_a_saved_run_comes_back_whole(workspace):
    dataset = _dataset(series=True)
    run = _run(dataset, threshold="contamination:fraction=0.1", train_fraction=0.5)
    run_id = workspace.save_run(run, author="ana")
    assert run.run_id == run_id and run.name == "zscore on rows.csv"
    back = workspace.load_run(run_id)
    assert np.array_equal(back.scores, run.scores) and np.array_equal(back.y, run.y)
    for part in ("fit", "validation", "train", "test"):
        assert np.array_equal(back.rows(part), run.rows(part)), part
    assert back.threshold == run.threshold and back.threshold_policy == {"strategy": "contamination", "fraction": 0.1}
    assert back.metrics["f1"] == pytest.approx(run.metrics["f1"]) and back.metrics["tp"] == run.metrics["tp"]
    assert back.metrics_at(1.0) == run.metrics_at(1.0)
    # the same strategy, the same rows, the same value after the round trip
    assert back.threshold_at("contamination:fraction=0.1") == pytest.approx(run.threshold)
    assert back.is_series and back.time.dt.tz is not None and back.time.equals(run.time.reset_index(drop=True))
    assert len(back.events_at()) == len(run.events_at())
    assert back.explain(int(np.argmax(back.scores)))["flagged"]
    record = workspace.run_record(run_id[:10])
    assert record.author == "ana" and record.method == "zscore" and record.settings["train_fraction"] == 0.5


def test_runs_are_listed_per_dataset_renamed_and_deleted(workspace):
    first, second = _dataset(0), _dataset(1)
    ids = [workspace.save_run(_run(first)), workspace.save_run(_run(first, "knn")), workspace.save_run(_run(second))]
    assert len(workspace.datasets()) == 2  # one record per content and roles, however many runs
    first_id = dataset_key(first)[0]
    assert {r.id for r in workspace.runs(first_id)} == set(ids[:2])
    assert [r.method for r in workspace.runs(first_id)] == ["knn", "zscore"]  # newest first
    workspace.rename_run(ids[0], "baseline")
    assert workspace.run_record(ids[0]).name == "baseline"
    with pytest.raises(DataError):
        workspace.rename_run(ids[0], "  ")
    workspace.annotate(ids[0], "real", row=3)
    workspace.delete_run(ids[0])
    assert {r.id for r in workspace.runs()} == set(ids[1:])
    assert not (workspace.artefacts / "runs" / ids[0]).exists()
    with pytest.raises(WorkspaceError, match="no run"):
        workspace.load_run(ids[0])


def test_export_holds_the_record_the_scores_and_the_bundle(workspace):
    run_id = workspace.save_run(_run(_dataset()))
    with zipfile.ZipFile(BytesIO(workspace.export_run(run_id))) as archive:
        assert sorted(archive.namelist()) == ["model.adbundle", "run.json", "scores.csv"]
        record = json.loads(archive.read("run.json"))
        scores = pd.read_csv(BytesIO(archive.read("scores.csv")))
        from core.pipeline import DetectionPipeline

        model = DetectionPipeline.from_bytes(archive.read("model.adbundle"))
    assert record["id"] == run_id and record["method"] == "zscore"
    assert len(scores) == 240 and {"row", "score", "test", "label"} <= set(scores.columns)
    assert model.threshold_ == record["threshold"]


def test_verdicts_on_rows_and_events(workspace):
    run_id = workspace.save_run(_run(_dataset()))
    first = workspace.annotate(run_id, "real", row=7, note="pump overheated", author="ana")
    workspace.annotate(run_id, "false_alarm", event=(20, 25), author="bo")
    workspace.annotate(run_id, "unsure", row=8)
    table = workspace.annotations(run_id)
    assert list(table["verdict"]) == ["real", "false_alarm", "unsure"]
    assert table.loc[0, "row"] == 7 and table.loc[0, "note"] == "pump overheated" and table.loc[0, "author"] == "ana"
    assert pd.isna(table.loc[1, "row"]) and (table.loc[1, "event_start"], table.loc[1, "event_end"]) == (20, 25)
    for bad in (dict(verdict="maybe", row=1), dict(verdict="real"), dict(verdict="real", row=1, event=(1, 2)),
                dict(verdict="real", row=240), dict(verdict="real", event=(9, 4))):
        with pytest.raises(DataError):
            workspace.annotate(run_id, bad.pop("verdict"), **bad)
    workspace.delete_annotation(first)
    assert list(workspace.annotations(run_id)["verdict"]) == ["false_alarm", "unsure"]
    with pytest.raises(WorkspaceError):
        workspace.delete_annotation(first)


def test_migrations_are_numbered_and_applied_once(workspace):
    assert workspace.schema_version() == SCHEMA_VERSION
    again = Workspace(workspace.engine.url.render_as_string(hide_password=False), artefacts=workspace.artefacts)
    assert again.migrations_applied == [] and again.schema_version() == SCHEMA_VERSION
    again.close()


def test_an_older_sqlite_workspace_is_migrated_forward(tmp_path):
    from core.workspace import schema

    folder = tmp_path / "old"
    folder.mkdir()
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{folder / 'workspace.db'}")
    with engine.begin() as connection:  # a workspace made when only the first step existed
        schema.schema_migrations.create(connection)
        schema.MIGRATIONS[0][2](connection)
        connection.execute(schema.schema_migrations.insert().values(version=1, name="datasets and runs",
                                                                    applied_at=0.0))
    engine.dispose()
    ws = Workspace(folder)
    assert ws.migrations_applied == [2] and ws.schema_version() == SCHEMA_VERSION
    run_id = ws.save_run(_run(_dataset()))
    ws.annotate(run_id, "real", row=0)


def test_a_workspace_that_cannot_be_opened_says_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WorkspaceError, match="Cannot create"):
        Workspace(blocker / "ws")
    with pytest.raises(WorkspaceError, match="Cannot open the workspace"):
        Workspace("postgresql://nobody:secret@127.0.0.1:1/none", artefacts=tmp_path / "a")
    try:
        Workspace("postgresql://nobody:secret@127.0.0.1:1/none", artefacts=tmp_path / "a")
    except WorkspaceError as error:
        assert "secret" not in str(error)


def test_the_location_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(tmp_path / "from_env"))
    ws = Workspace()
    assert (tmp_path / "from_env" / "workspace.db").exists() and ws.artefacts == tmp_path / "from_env" / "artefacts"


def test_threads_writing_at_once_leave_every_run_whole(workspace):
    dataset = _dataset()
    runs = [_run(dataset) for _ in range(4)]
    errors, ids = [], []

    def writer(k):
        try:
            for i in range(3):
                run_id = workspace.save_run(runs[(k + i) % 4], name=f"t{k}-{i}")
                ids.append(run_id)
                workspace.annotate(run_id, "unsure", row=i, author=f"t{k}")
                workspace.rename_run(run_id, f"thread {k} run {i}")
        except Exception as error:  # reported below: a failure must not vanish in a thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    records = workspace.runs()
    assert len(records) == 18 == len(set(ids)) and len({r.name for r in records}) == 18
    assert len(workspace.datasets()) == 1
    for run_id in ids[:3]:
        assert len(workspace.annotations(run_id)) == 1
        assert np.array_equal(workspace.load_run(run_id).scores, runs[0].scores)
    if workspace.is_sqlite:
        _integrity(Path(workspace.where) / "workspace.db")


_WRITER = """
import sys
import numpy as np, pandas as pd
from core.data import Roles, prepare
from core.experiment import run_experiment
from core.workspace import Workspace

name, folder = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
run = run_experiment(prepare(frame, Roles()), "zscore")
run.table_name = "shared.csv"
print("ready", flush=True)
sys.stdin.readline()  # both processes start writing at the same moment, on a workspace neither has opened yet
ws = Workspace(folder)
for i in range(8):
    run_id = ws.save_run(run, name=f"{name}-{i}", author=name)
    ws.annotate(run_id, "real", row=i, author=name)
print("done", flush=True)
"""


def test_two_processes_writing_one_sqlite_workspace(tmp_path):
    folder = tmp_path / "shared"
    processes = [subprocess.Popen([sys.executable, "-c", _WRITER, name, str(folder)], cwd=ROOT, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for name in ("left", "right")]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and out.strip() == "done", err
    ws = Workspace(folder)
    records = ws.runs()
    assert sorted(r.name for r in records) == sorted(f"{n}-{i}" for n in ("left", "right") for i in range(8))
    assert ws.schema_version() == SCHEMA_VERSION and len(ws.datasets()) == 1
    for record in records:
        assert list(ws.annotations(record.id)["author"]) == [record.author]
        assert ws.load_run(record.id).scores.shape == (200,)
    _integrity(folder / "workspace.db")
    with sqlite3.connect(folder / "workspace.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _integrity(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_content_digest_hashed_in_blocks_of_rows_is_the_whole_tables():
    """Hashing a large table a block of rows at a time keeps its memory down; the digest (which
    names datasets already saved) must stay the one of the table hashed at once."""
    import hashlib

    from core.workspace import content_digest

    rng = np.random.default_rng(3)
    n = 1003
    frame = pd.DataFrame({"x": rng.normal(size=n), "text": rng.choice(["a", "b", None], n),
                          "when": pd.date_range("2024-01-01", periods=n, freq="min"), "code": rng.integers(0, 5, n),
                          "kind": pd.Categorical(rng.choice(["u", "v"], n)), "flag": rng.random(n) > 0.5})
    frame.loc[3, "x"] = np.nan
    whole = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    whole.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    assert content_digest(frame, block_rows=7) == content_digest(frame) == whole.hexdigest()
    assert content_digest(frame.iloc[:, ::-1], block_rows=7) != content_digest(frame)
    shuffled = frame.iloc[rng.permutation(n)].reset_index(drop=True)
    assert content_digest(shuffled, block_rows=7) != content_digest(frame)  # row order counts

"""Run store: roundtrips, cache hits only for identical finished configs, a list that survives bad files,
ids that cannot escape the store, atomic writes and CSV exports."""

import csv
import io
import json
import os
import threading
from pathlib import Path

import pytest

from vizcore import RunConfig, RunFileError, Trainer, dumps
from vizcore.runs.store import LAYER_FIELDS, LOCK_NAME, RunStore, RunSummary, layers_csv, to_csv

SMALL = dict(dataset="moons", depth=2, width=8, batch_size=32, steps=60, every=10, eval_every=20)


def normalised(run: dict) -> dict:
    """The run as it reads back from JSON (tuples become lists, non-finite floats null)."""
    return json.loads(dumps(run))


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its contents."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cfg() -> RunConfig:
    return RunConfig(**SMALL)


@pytest.fixture(scope="module")
def run(cfg) -> dict:
    run = Trainer(cfg).run()
    assert run["status"] == "completed"
    return run


@pytest.fixture(scope="module")
def other_run() -> dict:
    return Trainer(RunConfig(**{**SMALL, "norm": "layer", "batch_size": 16})).run()


@pytest.fixture(scope="module")
def stopped(cfg) -> dict:
    t = Trainer(cfg)  # the same config as `run`: the same id
    t.step(25)
    t.stop()
    run = t.export()
    assert run["status"] == "stopped" and run["steps_done"] == 25
    return run


@pytest.fixture(scope="module")
def diverged() -> dict:
    run = Trainer(RunConfig(dataset="moons", lr=1e6, norm="none", steps=100, every=1, eval_every=10)).run()
    assert run["status"] == "diverged"
    return run


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


# ----- single runs -----
def test_save_get_roundtrip(store, run, cfg):
    assert not store.root.exists()  # created on first write
    run_id = store.save(run)
    assert run_id == cfg.key and len(run_id) == 16
    assert (store.root / f"{run_id}.json").is_file()
    assert store.get(run_id) == normalised(run)
    assert run_id in store and "0" * 16 not in store and "../x" not in store


def test_get_absent_and_corrupt(store, run):
    with pytest.raises(KeyError):
        store.get("0123456789abcdef")
    run_id = store.save(run)
    (store.root / f"{run_id}.json").write_text('{"format": "vizcore.run/1", "config": {', encoding="utf-8")
    with pytest.raises(RunFileError):
        store.get(run_id)
    assert store.find(RunConfig(**SMALL)) is None  # a corrupt file is a miss, not a crash


def test_save_rejects_unfinished_and_invalid_runs(store, cfg):
    ready = Trainer(cfg).export()
    assert ready["status"] == "ready"
    with pytest.raises(ValueError, match="finished"):
        store.save(ready)
    with pytest.raises(RunFileError):
        store.save({"format": "vizcore.run/1"})
    assert not store.root.exists()


def test_find_hits_only_the_identical_config(store, run, cfg):
    assert store.find(cfg) is None
    store.save(run)
    assert store.find(cfg) == normalised(run)
    assert store.find(RunConfig(**SMALL)) == normalised(run)  # equal config, new object
    assert store.find(cfg.replace(seed=1)) is None
    assert store.find(cfg.replace(steps=61)) is None
    assert store.find(cfg.replace(lr=0.1000001)) is None


def test_find_reuses_diverged_runs(store, diverged):
    store.save(diverged)
    found = store.find(RunConfig.from_dict(diverged["config"]))
    assert found is not None and found["status"] == "diverged"


def test_stopped_runs_are_stored_but_never_found(store, stopped, run, cfg):
    run_id = store.save(stopped)
    assert store.get(run_id)["status"] == "stopped"  # stored as is
    assert store.get(run_id)["steps_done"] == 25
    assert store.find(cfg) is None
    # The full run replaces the partial one and becomes a hit ...
    assert store.save(run) == run_id
    assert store.find(cfg) == normalised(run)
    # ... and a later stopped run of the same config does not overwrite it.
    assert store.save(stopped) == run_id
    assert store.get(run_id) == normalised(run)
    assert store.find(cfg) == normalised(run)


def test_delete(store, run, cfg):
    run_id = store.save(run)
    assert store.delete(run_id) is True
    assert store.delete(run_id) is False
    with pytest.raises(KeyError):
        store.get(run_id)
    assert store.find(cfg) is None
    assert store.list() == []


# ----- ids -----
BAD_IDS = [
    "../../etc/passwd",
    "/etc/passwd",
    "../victim",
    "..",
    "",
    "abc",
    "0123456789ABCDEF",  # upper case: not what RunConfig.key produces
    "0123456789abcdef0",
    "0123456789abcde",
    "0123456789abcdef\n",
    "01234567/89abcdef",
    "0123456789abcde/",
    "0123456789abcde\x00",
    "\x000123456789abcdef",
    "0123456789abcdeg",
    None,
    123,
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_raise_and_touch_nothing(tmp_path, run, bad):
    victim = tmp_path / "victim.json"  # a real run file just outside the store
    victim.write_text(dumps(run), encoding="utf-8")
    store = RunStore(tmp_path / "store")
    before = tree(tmp_path)
    for op in (store.get, store.delete):
        with pytest.raises(ValueError) as e:
            op(bad)
        assert repr(bad) in str(e.value)
    assert bad not in store
    assert tree(tmp_path) == before
    assert not store.root.exists()


def test_absolute_path_to_a_real_file_is_refused(tmp_path, run):
    victim = tmp_path / "victim.json"
    victim.write_text(dumps(run), encoding="utf-8")
    store = RunStore(tmp_path / "store")
    for bad in (str(victim), str(victim.with_suffix("")), str(tmp_path / "store" / ".." / "victim")):
        with pytest.raises(ValueError):
            store.get(bad)
        with pytest.raises(ValueError):
            store.delete(bad)
    assert victim.is_file()


# ----- the list -----
def test_list_newest_first_with_summary_fields(store, run, other_run, stopped):
    a = store.save(run)
    b = store.save(other_run)
    os.utime(store.root / f"{a}.json", (1_000_000, 1_000_000))
    os.utime(store.root / f"{b}.json", (2_000_000, 2_000_000))
    runs = store.list()
    assert [s.id for s in runs] == [b, a]
    assert store.problems == []
    s = runs[1]
    assert isinstance(s, RunSummary)
    assert (s.id, s.dataset, s.model, s.norm, s.batch_size) == (a, "moons", "mlp", "batch", 32)
    assert (s.status, s.steps_done) == ("completed", 60)
    assert s.test_acc == run["curves"]["test_acc"][-1]
    assert s.created == 1_000_000
    assert s.path == store.root / f"{a}.json" and s.path.is_file()
    assert (runs[0].norm, runs[0].batch_size) == ("layer", 16)
    # The order follows the files' times, and summaries follow the files.
    os.utime(store.root / f"{b}.json", (500_000, 500_000))
    assert [s.id for s in store.list()] == [a, b]
    store.delete(a)
    store.delete(b)
    assert store.save(stopped) == a
    (summary,) = store.list()
    assert (summary.id, summary.status, summary.steps_done) == (a, "stopped", 25)


def test_list_of_missing_root_is_empty(tmp_path):
    store = RunStore(tmp_path / "nowhere")
    assert store.list() == [] and store.problems == []
    assert not store.root.exists()


def test_bad_files_are_reported_and_the_rest_still_load(store, run, other_run):
    good = {store.save(run), store.save(other_run)}
    root = store.root
    (root / "aaaaaaaaaaaaaaaa.json").write_text('{"format": "vizcore.run/1", "sta', encoding="utf-8")  # truncated
    (root / "bbbbbbbbbbbbbbbb.json").write_text('{"name": "some-package", "version": "1.0.0"}', encoding="utf-8")
    (root / "cccccccccccccccc.json").write_text(json.dumps({**run, "format": "vizcore.run/99"}), encoding="utf-8")
    (root / "dddddddddddddddd.json").write_bytes(b"\xff\xfe\x00garbage")
    (root / "notes.json").write_text(dumps(run), encoding="utf-8")  # a run, but its name is no id
    (root / ".tmp-x1y2z3.json").write_text('{"format": "vizcore.run/1", "conf', encoding="utf-8")  # crash leftover
    (root / "README.txt").write_text("not a run", encoding="utf-8")
    runs = store.list()
    assert {s.id for s in runs} == good
    problems = dict(store.problems)
    assert set(problems) == {
        "aaaaaaaaaaaaaaaa.json",
        "bbbbbbbbbbbbbbbb.json",
        "cccccccccccccccc.json",
        "dddddddddddddddd.json",
        "notes.json",
    }
    assert "JSON" in problems["aaaaaaaaaaaaaaaa.json"]
    assert "format" in problems["bbbbbbbbbbbbbbbb.json"]
    assert "vizcore.run/99" in problems["cccccccccccccccc.json"]
    assert "run id" in problems["notes.json"]
    # Problems describe the latest list() only.
    for name in problems:
        (root / name).unlink()
    assert {s.id for s in store.list()} == good and store.problems == []


def test_a_file_corrupted_after_listing_is_reported_next_time(store, run):
    run_id = store.save(run)
    assert len(store.list()) == 1
    path = store.root / f"{run_id}.json"
    path.write_text("{", encoding="utf-8")
    assert store.list() == []
    assert [name for name, _ in store.problems] == [path.name]


# ----- root -----
def test_root_from_env_var(tmp_path, monkeypatch, run):
    monkeypatch.setenv("NORMLAB_RUNS", str(tmp_path / "from-env"))
    store = RunStore()
    assert store.root == tmp_path / "from-env"
    store.save(run)
    assert len(list((tmp_path / "from-env").glob("*.json"))) == 1
    assert RunStore(tmp_path / "explicit").root == tmp_path / "explicit"  # an argument wins


def test_root_defaults_to_runs_in_the_working_directory(tmp_path, monkeypatch, run):
    monkeypatch.delenv("NORMLAB_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    store = RunStore()
    assert store.root == tmp_path / "runs"
    assert not store.root.exists()
    run_id = store.save(run)
    assert (tmp_path / "runs" / f"{run_id}.json").is_file()


# ----- atomic writes -----
def test_a_crash_mid_write_leaves_the_previous_version(store, run):
    run_id = store.save(run)
    path = store.root / f"{run_id}.json"
    before = path.read_bytes()
    broken = {**run, "meta": {**run["meta"], "oops": object()}}  # passes check(), fails json.dumps
    with pytest.raises(TypeError):
        store.save(broken)
    assert path.read_bytes() == before
    assert sorted(p.name for p in store.root.iterdir()) == [LOCK_NAME, path.name]  # no temporary file left
    assert store.get(run_id) == normalised(run)


def test_a_crash_on_the_first_write_leaves_no_file(store, run):
    with pytest.raises(TypeError):
        store.save({**run, "meta": {"oops": {1, 2}}})
    assert [p.name for p in store.root.iterdir()] == [LOCK_NAME]  # the replicas' write lock, no run file
    assert store.list() == [] and store.problems == []


def test_concurrent_saves_and_lists(tmp_path, run, other_run, stopped):
    errors: list[BaseException] = []
    runs = [run, other_run, stopped]

    def work(i: int) -> None:
        try:
            store = RunStore(tmp_path / "shared") if i % 2 else shared
            for k in range(5):
                store.save(runs[(i + k) % len(runs)])
                store.list()
                assert store.problems == []
        except BaseException as e:
            errors.append(e)

    shared = RunStore(tmp_path / "shared")
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.id for s in shared.list()} == {RunConfig(**SMALL).key, RunConfig.from_dict(other_run["config"]).key}
    assert shared.problems == []
    assert shared.find(RunConfig(**SMALL)) == normalised(run)  # the stopped saves never replaced the full run


# ----- CSV -----
def test_curves_csv_roundtrip(run):
    text = to_csv(run)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["step", "train_loss", "train_acc", "test_loss", "test_acc"]
    curves = run["curves"]
    assert len(rows) == len(curves["step"])
    assert curves["train_loss"][0] is None and rows[0]["train_loss"] == ""  # null -> empty cell
    for key in ("step", "train_loss", "train_acc", "test_loss", "test_acc"):
        parse = int if key == "step" else float
        assert [parse(r[key]) if r[key] != "" else None for r in rows] == curves[key], key


def test_layers_csv_roundtrip(run):
    rows = list(csv.DictReader(io.StringIO(layers_csv(run))))
    assert tuple(rows[0]) == LAYER_FIELDS
    expected = []
    for layer in run["layers"]:
        for i, step in enumerate(layer["steps"]):
            for tap, d in layer["taps"].items():
                row = {"layer": layer["name"], "step": step, "tap": tap}
                row.update({k: d[k][i] for k in LAYER_FIELDS[3:-3]})
                row.update({k: layer[k][i] for k in ("grad_norm", "weight_norm", "update_ratio")})
                expected.append(row)
    assert len(rows) == len(expected) == sum(len(x["steps"]) * len(x["taps"]) for x in run["layers"])

    def parse(key: str, cell: str):
        if cell == "":
            return None
        if key in ("layer", "tap"):
            return cell
        return int(cell) if key == "step" else float(cell)

    assert [{k: parse(k, v) for k, v in r.items()} for r in rows] == expected


def test_csv_of_a_diverged_run_has_empty_cells(diverged):
    rows = list(csv.DictReader(io.StringIO(layers_csv(diverged))))
    assert any(r["grad_norm"] == "" for r in rows)  # the frame that blew up has no gradients
    assert all(len(r) == len(LAYER_FIELDS) for r in rows)
    text = to_csv(diverged)
    assert "nan" not in text.lower() and "inf" not in text.lower()


def test_saved_at_says_when_a_run_was_stored(tmp_path):
    import time as _time

    from vizcore import RunConfig, Trainer
    from vizcore.runs.store import RunStore

    store = RunStore(tmp_path)
    run_id = store.save(Trainer(RunConfig(dataset="moons", steps=5)).run())
    assert abs(store.saved_at(run_id) - _time.time()) < 60 and store.saved_at("0" * 16) is None
    assert store.saved_at("../etc") is None

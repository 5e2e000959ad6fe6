"""Background jobs: commands, the server-wide slot cap, idle pausing, saving."""

import gc
import threading
import time
import weakref
from pathlib import Path

import pytest

from vizcore import RunConfig, Trainer
from vizcore.runs.store import RunStore
from vizcore.workers.base import Slots
from vizcore.workers.jobs import Job, JobSnapshot

CFG = RunConfig(dataset="moons", depth=2, width=16, steps=400, every=10)


def wait_for(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_job_trains_to_the_end_like_a_plain_trainer(tmp_path, jobs):
    store = RunStore(tmp_path)
    job = Job(CFG, store=store, slots=Slots(1)).start()
    jobs.append(job)
    while job.alive:
        job.snapshot()  # a watched job never idles
        time.sleep(0.02)
    assert job.state == "done" and job.error is None
    run = job.snapshot().run
    plain = Trainer(CFG).run()
    for r in (run, plain):
        r.pop("elapsed_s")
    assert run == plain  # background chunks change nothing
    assert job.saved_id == CFG.key and store.get(CFG.key)["status"] == "completed"


def test_wait_progress_returns_once_steps_are_trained_or_the_job_ended(jobs):
    paused = Job(CFG, slots=Slots(1), start_paused=True).start()
    jobs.append(paused)
    assert not paused.wait_progress(0.3) and paused.trainer.steps_done == 0  # paused: no steps, no wait forever
    job = Job(CFG, slots=Slots(1)).start()
    jobs.append(job)
    assert job.wait_progress(30) and job.trainer.steps_done > 0
    paused.stop()
    assert paused.join(30) and paused.wait_progress(0)  # an ended job never keeps a waiter waiting


def test_pause_resume_step_stop(jobs):
    job = Job(CFG.replace(steps=100_000), slots=Slots(1), start_paused=True).start()
    jobs.append(job)
    wait_for(lambda: job.state == "paused")
    job.step_once(3)
    wait_for(lambda: job.trainer.steps_done == 3)
    time.sleep(0.3)
    assert job.trainer.steps_done == 3 and job.paused
    job.resume()
    wait_for(lambda: job.trainer.steps_done > 50)
    job.pause()
    wait_for(lambda: job.state == "paused")
    held = job.trainer.steps_done
    time.sleep(0.3)
    assert job.trainer.steps_done == held
    job.stop()
    assert job.join(10)
    assert job.snapshot().run["status"] == "stopped"


def test_slots_cap_concurrent_training_and_paused_jobs_free_theirs(jobs):
    slots = Slots(1)
    a = Job(CFG.replace(steps=100_000), slots=slots).start()
    b = Job(CFG.replace(steps=100_000, seed=1), slots=slots).start()
    jobs += [a, b]
    wait_for(lambda: {a.state, b.state} == {"running", "waiting"})
    assert slots.busy == 1 and slots.waiting == 1
    runner, waiter = (a, b) if a.state == "running" else (b, a)
    held = waiter.trainer.steps_done
    time.sleep(0.3)
    assert waiter.trainer.steps_done == held == 0
    runner.pause()
    wait_for(lambda: waiter.state == "running")
    assert runner.state == "paused" and slots.busy == 1


def test_unwatched_job_idles_then_resumes_when_watched(jobs):
    job = Job(CFG.replace(steps=100_000), slots=Slots(1), idle_pause=0.3).start()
    jobs.append(job)
    wait_for(lambda: job.state == "idle")
    held = job.trainer.steps_done
    time.sleep(0.3)
    assert job.trainer.steps_done == held  # nobody polls: it burns no CPU
    job.snapshot()
    wait_for(lambda: job.trainer.steps_done > held)


def test_long_unwatched_job_stops_and_saves(tmp_path, jobs):
    store = RunStore(tmp_path)
    job = Job(CFG.replace(steps=100_000), store=store, slots=Slots(1), idle_pause=0.1, idle_stop=0.5).start()
    jobs.append(job)
    assert job.join(20)
    assert store.get(job.cfg.key)["status"] == "stopped"


def test_errors_are_reported_not_raised(jobs, monkeypatch):
    job = Job(CFG, slots=Slots(1))
    jobs.append(job)

    def boom(n):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(job.trainer, "step", boom)
    job.start()
    assert job.join(10)
    assert job.state == "error" and "disk on fire" in job.snapshot().error


def test_snapshot_is_safe_while_training(jobs):
    job = Job(CFG.replace(steps=3000, every=1, max_snapshots=16), slots=Slots(1)).start()
    jobs.append(job)
    errors = []

    def reader():
        try:
            while job.alive:
                run = job.snapshot().run
                for layer in run["layers"]:  # aligned even while the history thins
                    assert len(layer["steps"]) == len(layer["taps"]["act"]["hist"]["counts"])
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_wall_clock_cap_stops_a_run_with_a_notice(monkeypatch, jobs):
    monkeypatch.setenv("NORMLAB_MAX_RUN_SECONDS", "0.3")
    job = Job(CFG.replace(steps=200_000), slots=Slots(1)).start()
    jobs.append(job)
    while job.alive:
        job.snapshot()
        time.sleep(0.05)
    snap = job.snapshot()
    assert snap.run["status"] == "stopped" and "limit" in snap.notice


def test_identical_configs_train_once_and_only_the_owner_controls(jobs):
    from vizcore.workers.jobs import JobRegistry

    reg = JobRegistry()
    cfg = CFG.replace(steps=100_000)
    a, shared_a = reg.start(cfg, "alice")
    b, shared_b = reg.start(cfg, "bob")
    c, _ = reg.start(cfg.replace(seed=5), "bob")
    jobs += [a, c]
    assert a is b and not shared_a and shared_b
    assert c is not a and reg.owner(a) == "alice" and reg.owner(c) == "bob"
    a.stop()
    assert a.join(10)
    d, shared_d = reg.start(cfg, "bob")  # the first one ended: a new run for bob
    jobs.append(d)
    assert d is not a and not shared_d


def test_the_registry_forgets_a_job_as_it_ends_so_nothing_keeps_its_memory():
    from vizcore.workers.jobs import JobRegistry

    reg = JobRegistry()
    job, _ = reg.start(CFG.replace(steps=5), "alice")
    assert job.join(30)
    assert reg.owner(job) == "alice" and reg.running() == 0  # who owned it is still known
    ended = weakref.ref(job)
    del job
    gc.collect()
    # Once the sessions showing it are gone, a finished run's trainer, snapshots and figures go too.
    assert ended() is None, gc.get_referrers(ended())


def test_memo_builds_once_per_snapshot_for_every_watcher(jobs):
    job = Job(CFG, slots=Slots(1), start_paused=True).start()
    jobs.append(job)
    builds = []
    run = job.snapshot().run
    for _ in range(3):  # three sessions drawing the same snapshot
        assert job.memo(run, ("curves",), lambda: builds.append(1) or len(builds)) == 1
    assert job.memo(run, ("heatmap", "act"), lambda: "other") == "other"  # another key builds its own
    job.step_once(5)
    wait_for(lambda: job.trainer.steps_done == 5)
    newer = job.snapshot().run
    assert newer is not run
    assert job.memo(newer, ("curves",), lambda: builds.append(1) or len(builds)) == 2  # a new snapshot rebuilds


def test_memo_keeps_two_snapshots_per_chart_and_lets_older_ones_go(jobs):
    # Each value keeps its snapshot alive (a long run's layers are tens of thousands of objects): a chart
    # redrawn at every snapshot must not keep the last MEMO_SIZE of them.
    from vizcore.workers.jobs import MEMO_PER_KEY

    job = Job(CFG, slots=Slots(1), start_paused=True).start()
    jobs.append(job)

    class Snap(list):  # stands for a snapshot's layers: weakly referable
        pass

    snaps = [Snap([k]) for k in range(6)]
    gone = [weakref.ref(s) for s in snaps]
    twin = Snap(["twin"])
    for k, snap in enumerate(snaps):
        assert job.memo(snap, ("histograms", "act"), lambda k=k: f"fig {k}") == f"fig {k}"
        assert job.memo(snap, ("pair",), lambda k=k: f"pair {k}", also=twin) == f"pair {k}"
    assert job.memo(snaps[-1], ("pair",), lambda: "rebuilt", also=Snap(["newer twin"])) == "rebuilt"  # twin moved on
    assert job.memo(snaps[-1], ("pair",), lambda: "again", also=twin) == "pair 5"  # the latest two twins are kept
    del snaps, twin
    gc.collect()
    alive = [r() is not None for r in gone]
    assert alive == [False] * (6 - MEMO_PER_KEY) + [True] * MEMO_PER_KEY  # only the latest snapshots stay


def test_watchers_count_recent_sessions_and_polling_slows_as_they_grow(monkeypatch):
    from vizcore.workers import watchers as jobs_module
    from vizcore.workers.watchers import CROWD, POLL_STEPS, Watchers, crowded, poll_factor

    now = [100.0]
    monkeypatch.setattr(jobs_module.time, "monotonic", lambda: now[0])
    w = Watchers(window=5.0)
    for i in range(3):
        w.seen(f"s{i}")
    w.seen("s0")  # the same session twice counts once
    assert w.count() == 3
    now[0] += 4.0
    w.seen("s3")
    now[0] += 2.0  # s0..s2 last polled 6 s ago: gone
    assert w.count() == 1
    factors = [poll_factor(n) for n in range(1, 41)]
    assert factors[0] == 1.0 and factors == sorted(factors)  # never faster with more sessions
    assert poll_factor(30) == POLL_STEPS[-1][1] > poll_factor(20) > 1
    assert not crowded(CROWD) and crowded(CROWD + 1)


def test_concurrent_starts_of_one_config_make_one_job_and_never_block_the_registry(jobs, monkeypatch):
    from vizcore.workers import jobs as jobs_module
    from vizcore.workers.jobs import JobRegistry

    reg = JobRegistry()
    cfg = CFG.replace(steps=100_000)
    running = reg.start(cfg.replace(seed=9), "carol")[0]
    jobs.append(running)
    building, release = threading.Event(), threading.Event()
    real_init = jobs_module.Job.__init__

    def slow_init(self, *args, **kwargs):  # a Trainer that takes long to build (a fresh server's imports)
        building.set()
        assert release.wait(30)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(jobs_module.Job, "__init__", slow_init)
    results = []
    threads = [
        threading.Thread(target=lambda who=who: results.append((reg.start(cfg, who), who)))
        for who in ("alice", "bob", "dave")
    ]
    for t in threads:
        t.start()
    assert building.wait(10)
    # While a Trainer builds, the registry still answers the pages that ask who owns a job.
    answers = []
    asker = threading.Thread(target=lambda: answers.append((reg.owner(running), reg.running())), daemon=True)
    asker.start()
    asker.join(5)
    release.set()
    assert answers == [("carol", 1)], "the registry was locked while a Trainer was built"
    for t in threads:
        t.join(30)
    made = {id(job) for (job, _), _ in results}
    jobs += [job for (job, _), _ in results if job.alive]
    assert len(results) == 3 and len(made) == 1  # one job for the configuration
    owners = [who for (_, shared), who in results if not shared]
    assert len(owners) == 1 and reg.owner(results[0][0][0]) == owners[0]


def test_warm_up_runs_once_and_pays_the_lazy_imports(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from vizcore.engine import data\n"
        "from vizcore.ui.warmup import warm_up\n"
        "assert 'torch._dynamo' not in sys.modules and data._raw.cache_info().currsize == 0\n"
        "t = warm_up()\n"
        "assert warm_up() is t\n"
        "t.join(120)\n"
        "from vizcore.engine.config import DATASETS\n"
        "print(not t.is_alive(), 'torch._dynamo' in sys.modules, data._raw.cache_info().currsize == len(DATASETS),\n"
        "      'plotly.graph_objs._heatmap' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[2],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True"] * 4


def test_snapshot_is_a_frozen_copy_with_the_slots(jobs):
    import dataclasses

    job = Job(CFG, slots=Slots(1), start_paused=True).start()
    jobs.append(job)
    wait_for(lambda: job.state == "paused")
    snap = job.snapshot()
    assert isinstance(snap, JobSnapshot) and snap.paused and snap.state == "paused"
    assert (snap.slots_busy, snap.slots_total, snap.slots_waiting) == (0, 1, 0)  # a paused job holds no slot
    assert snap.run["steps_done"] == 0 and snap.error is None and snap.saved_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = "done"


def comparable(run: dict) -> dict:
    """Return the run without what a pace may change: wall-clock time and which steps were snapshots."""
    return {k: v for k, v in run.items() if k not in ("elapsed_s", "layers")}


def test_a_pace_throttles_without_changing_a_number(jobs):
    cfg = CFG.replace(steps=300)
    plain = Trainer(cfg).run()
    job = Job(cfg, slots=Slots(1))
    job.set_pace(400.0)  # above the dense pace: the same snapshots as an unpaced run
    jobs.append(job.start())
    while job.alive:
        job.snapshot()
        time.sleep(0.01)
    run = job.snapshot().run
    assert comparable(run) == comparable(plain) and run["layers"] == plain["layers"]


def test_a_slow_pace_records_every_step_and_can_change_while_training(jobs):
    cfg = CFG.replace(steps=100_000, every=20)
    job = Job(cfg, slots=Slots(1))
    job.set_pace(2.0)  # two steps a second: a class reads each one
    jobs.append(job.start())
    wait_for(lambda: job.snapshot().run["steps_done"] >= 2)
    snap = job.snapshot()
    assert snap.run["steps_done"] < 1000  # nowhere near as fast as it goes
    assert snap.run["layers"][0]["steps"][:2] == [0, 1]  # every step a snapshot, not every 20th
    job.set_pace(None)  # as fast as it goes, at once: the sleeping worker wakes
    wait_for(lambda: job.snapshot().run["steps_done"] > 2000)
    with pytest.raises(ValueError, match="pace"):
        job.set_pace(0)


def test_paced_jobs_lend_their_slot_while_they_sleep(jobs):
    slots = Slots(1)  # one core's worth: an unpaced job would keep it to itself
    pair = [Job(CFG.replace(steps=100_000, seed=s), slots=slots) for s in (1, 2)]
    for j in pair:
        j.set_pace(20.0)
        jobs.append(j.start())
    wait_for(lambda: all(j.snapshot().run["steps_done"] >= 5 for j in pair))
    assert all(j.snapshot().state in ("running", "waiting") for j in pair)


def test_each_step_taken_with_step_is_a_snapshot(jobs):
    job = Job(CFG.replace(steps=1000, every=20), slots=Slots(1), start_paused=True)
    jobs.append(job.start())
    for n in (1, 2, 3):
        job.step_once(1)
        wait_for(lambda n=n: job.snapshot().run["steps_done"] == n)
    assert job.snapshot().run["layers"][0]["steps"] == [0, 1, 2]  # Step shows the change, not "step 0" again

"""How often a paced job's distributions change, and that a default-paced run has an unpaced run's numbers."""

import time

from vizcore import RunConfig, Trainer
from vizcore.workers.base import Slots
from vizcore.workers.jobs import SNAPSHOTS_PER_S, Job, dense_every

CFG = RunConfig(dataset="moons", depth=2, width=16, steps=400, every=20)


def test_dense_every_gives_at_least_the_aimed_snapshots_a_second():
    assert dense_every(None, 20) == 0  # as fast as it goes: the recorder's cadence
    assert dense_every(100.0, 20) == 0 and dense_every(400.0, 20) == 0  # 20 steps apart is 5/s or more already
    assert dense_every(5.0, 20) == 1 and dense_every(2.0, 20) == 1  # a class reads every step
    assert dense_every(25.0, 20) == 8
    for pace in (5.0, 10.0, 25.0, 40.0, 59.0):
        n = dense_every(pace, 20)
        assert n >= 1 and pace / n >= SNAPSHOTS_PER_S


def test_a_default_paced_job_snapshots_every_8th_step_and_keeps_the_numbers(jobs):
    cfg = CFG.replace(steps=60)
    plain = Trainer(cfg).run()
    job = Job(cfg, slots=Slots(1))
    job.set_pace(25.0)
    jobs.append(job.start())
    seen = set()
    while job.alive:
        seen.add(job.snapshot().run["curves"]["step"][-1])
        time.sleep(0.05)
    run = job.snapshot().run
    assert run["layers"][0]["steps"] == sorted(set(range(0, 60, 8)) | set(range(0, 60, 20)))
    assert run["curves"] == plain["curves"] and run["steps_done"] == plain["steps_done"] == 60
    assert len(seen) > 10  # the curves' last step moved while it trained (a point every 50 steps gives 2)


def test_the_first_step_of_a_paced_job_is_due_at_once(jobs):
    job = Job(CFG, slots=Slots(1))
    job.set_pace(0.01)  # one step every 100 s: only the first comes before the wait ends
    jobs.append(job.start())
    assert job.wait_progress(30)
    assert job.snapshot().run["steps_done"] == 1 and job.snapshot().run["curves"]["step"] == [0, 1]


def test_a_crowded_server_keeps_paced_jobs_at_their_recorders_cadence(jobs, monkeypatch):
    from vizcore.workers import jobs as jobs_module
    from vizcore.workers.watchers import CROWD

    class Crowd:
        def count(self) -> int:
            return CROWD + 1

    monkeypatch.setattr(jobs_module, "server_watchers", Crowd)
    cfg = CFG.replace(steps=60)
    job = Job(cfg, slots=Slots(1))
    job.set_pace(25.0)
    jobs.append(job.start())
    assert job.join(60)
    run, plain = job.snapshot().run, Trainer(cfg).run()
    assert run["layers"][0]["steps"] == plain["layers"][0]["steps"] == [0, 20, 40]  # not every 8th step
    assert run["curves"] == plain["curves"]

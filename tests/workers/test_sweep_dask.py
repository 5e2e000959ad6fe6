"""A sweep on a real Dask cluster (joblib's dask backend, as vizcore.workers.sweep documents) gives the
local pool's numbers exactly.

The cluster is a `LocalCluster` of two worker processes with one thread each on loopback, no dashboard:
the same scheduler protocol and task shipping as a cluster of machines, inside CI on two cores.
"""

from concurrent.futures import ThreadPoolExecutor

import distributed  # requirements-dev.txt pins it: a missing install fails here, it is not skipped
import joblib
import pytest

from tests.helpers import comparable
from vizcore import RunConfig
from vizcore.workers.sweep import SweepPool, run_many

SMALL = dict(dataset="moons", depth=2, width=8, batch_size=32, steps=80, every=10, eval_every=20)


@pytest.fixture(scope="module")
def configs() -> list[RunConfig]:
    base = RunConfig(**SMALL)
    return [
        base,
        base.replace(norm="layer", seed=1),
        base.replace(norm="none", batch_size=8, seed=2),
        base.replace(norm="batch", placement="after", seed=3),
        base.replace(norm="group", groups=2, seed=4),
        base.replace(norm="rms", activation="tanh", seed=5),
        base.replace(dataset="digits", model="cnn", norm="instance", width=4, seed=6),
        base.replace(norm="batch", batch_size=4, norm_noise=0.5, seed=7),
    ]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"OMP_NUM_THREADS": "1"},
    ) as cluster:
        yield cluster


def test_a_dask_cluster_sweep_gives_the_local_pools_numbers(configs, cluster):
    # The local pool trains in a thread meanwhile: both wait mostly on worker processes starting.
    with SweepPool(2) as pool, ThreadPoolExecutor(1) as thread:
        local_future = thread.submit(run_many, configs, pool=pool)
        with distributed.Client(cluster) as client:
            with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
                remote = run_many(configs, backend="joblib")
            workers = set(client.scheduler_info()["workers"])
        local = local_future.result()
    assert {t["worker"] for t in tasks.data} == workers, "the sweep did not run on both cluster workers"
    assert len(remote) == len(local) == len(configs)
    for cfg, here, there in zip(configs, local, remote, strict=True):
        assert here is not None and there is not None
        assert there["config"] == cfg.to_dict()  # in input order
        assert there["status"] == here["status"] == "completed"
        # Every curve point and every layer summary (histograms, percentiles, gradient norms) is identical.
        assert comparable(there)["curves"] == comparable(here)["curves"], cfg
        assert comparable(there)["layers"] == comparable(here)["layers"], cfg
        assert comparable(there) == comparable(here), cfg

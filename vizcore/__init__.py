"""vizcore: train small networks on the CPU and record what every layer sees.

    >>> from vizcore import RunConfig, Trainer
    >>> t = Trainer(RunConfig(dataset="moons", norm="batch", steps=200))
    >>> run = t.run()          # or t.step(50) repeatedly, from any thread
    >>> run["curves"]["test_acc"][-1] > 0.8
    True
"""

__version__ = "0.1.0"

from .config import ConfigError, RunConfig  # noqa: E402
from .runfile import RunFileError, dumps, loads  # noqa: E402
from .training import Trainer, train  # noqa: E402

__all__ = ["ConfigError", "RunConfig", "RunFileError", "Trainer", "dumps", "loads", "train", "__version__"]

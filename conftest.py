"""Shared pytest setup for tests/ and claims/: Hypothesis profiles and torch threading.

Profiles (choose with ``--hypothesis-profile``): ``dev`` for quick local runs, ``ci`` for the
committed replication record (the default), ``thorough`` for long investigations. Every
profile is derandomized with no example database, so a run's verdicts depend only on the code,
the fixtures and the profile -- never on an earlier run or on the xdist worker count.
"""

import torch
from hypothesis import HealthCheck, settings

_common = dict(
    deadline=None,  # torch and env steps have no stable per-example timing
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=20, **_common)
settings.register_profile("ci", max_examples=200, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile("ci")

# One intra-op thread: identical float results in every worker, and no oversubscription
# when xdist runs one worker per core.
torch.set_num_threads(1)

# The claims plumbing; also an installed `pytest11` entry point of the same name, so this line
# only matters for an install made before the entry point existed. pytester: tests of the plugin.
pytest_plugins = ["avec.pytest_plugin", "pytester"]

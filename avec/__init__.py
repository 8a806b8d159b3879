"""avec: tests of the Algebraic Value-Editing Conjecture on trained RL agents.

Data flows one way: layouts -> envs -> agents -> activations -> vectors -> rollouts ->
metrics -> verdicts -> report. Importing avec registers its Gymnasium env ids.
"""

from avec import edits, generators
from avec.envs import env_id, make, register_envs
from avec.generators import generate
from avec.layouts import (
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    Layout,
    LayoutError,
    UnsolvableLayoutError,
    from_ascii,
)

register_envs()

__version__ = "0.1.0"

__all__ = [
    "CheeseMazeLayout",
    "DoorKeyLayout",
    "FourRoomsLayout",
    "Layout",
    "LayoutError",
    "UnsolvableLayoutError",
    "__version__",
    "edits",
    "env_id",
    "from_ascii",
    "generate",
    "generators",
    "make",
    "register_envs",
]

"""Fixtures for the unit tests of avec.

``--models-dir`` points the zoo tests at another models folder (default: the committed
``fixtures/models``), e.g. a freshly retrained zoo before it is committed. Every test that takes
a ``model_id`` argument runs once per model of that folder's manifest, with the id as test id;
one that takes ``minigrid_model_id`` once per model whose levels MiniGrid's own envs build.
"""

from pathlib import Path

import pytest

from avec import training, zoo

_GLYPHS = {"wall": "#", "key": "K", "door": "D", "goal": "G", "lava": "L"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--models-dir",
        default=str(training.MODELS_DIR),
        help="folder with manifest.json and the model checkpoints the zoo tests check",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    manifest = zoo.manifest(Path(metafunc.config.getoption("--models-dir")))
    if "model_id" in metafunc.fixturenames:
        metafunc.parametrize("model_id", list(manifest), ids=list(manifest))
    if "minigrid_model_id" in metafunc.fixturenames:
        ids = [i for i, entry in manifest.items() if entry.get("minigrid_env_id")]
        metafunc.parametrize("minigrid_model_id", ids, ids=ids)


@pytest.fixture(scope="session")
def models_dir(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.getoption("--models-dir"))


def _render_level(env) -> list[str]:
    u = env.unwrapped
    rows = []
    for y in range(u.height):
        row = ""
        for x in range(u.width):
            obj = u.grid.get(x, y)
            if (x, y) == tuple(int(v) for v in u.agent_pos):
                row += ">v<^"[u.agent_dir]
            elif obj is None:
                row += "."
            else:
                row += _GLYPHS[obj.type]
        rows.append(row)
    return rows


@pytest.fixture(scope="session")
def render_level():
    """``render_level(env) -> list[str]``: the rows of the level a MiniGrid env holds now,
    written by walking ``env.unwrapped.grid`` in avec's ASCII notation (goal and cheese both
    ``G``), so a layout can be checked against an env without any of avec's own code."""
    return _render_level


@pytest.fixture(scope="session")
def layout_rows():
    """``layout_rows(layout) -> list[str]``: the grid rows of ``layout.to_ascii()`` in the
    notation of ``render_level`` (cheese written ``G``, as MiniGrid holds it as a goal)."""
    return lambda layout: layout.to_ascii().replace("C", "G").splitlines()[1 : 1 + layout.height]

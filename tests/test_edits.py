"""Edits are pure functions Layout -> Layout: the input is left as it was, the result changes
exactly what the edit names, and each says by BFS whether the level is still solvable."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avec import edits, strategies
from avec.layouts import CheeseMazeLayout, LayoutError, from_ascii

doorkeys = strategies.doorkey_layouts(sizes=(5, 6, 8))
mazes = strategies.cheesemaze_layouts(sizes=(7, 9, 11), cheese_region="anywhere")
fourrooms = strategies.fourrooms_layouts()
colors = st.sampled_from(["red", "green", "blue", "purple", "yellow", "grey"])

EDITS = {
    "remove key": (doorkeys, lambda lay, data: edits.remove(lay, "key")),
    "remove cheese": (mazes, lambda lay, data: edits.remove(lay, "cheese")),
    "remove goal": (fourrooms, lambda lay, data: edits.remove(lay, "goal")),
    "move key": (
        doorkeys,
        lambda lay, data: edits.move(lay, "key", data.draw(st.sampled_from(free(lay)))),
    ),
    "move cheese": (
        mazes,
        lambda lay, data: edits.move(lay, "cheese", data.draw(st.sampled_from(free(lay)))),
    ),
    "move agent": (
        fourrooms,
        lambda lay, data: edits.move_agent(lay, data.draw(st.sampled_from(free(lay))), 2),
    ),
    "recolor": (doorkeys, lambda lay, data: edits.recolor(lay, key=data.draw(colors))),
    "open top right": (mazes, lambda lay, data: edits.open_top_right(lay)),
}


def free(layout):
    """Free floor cells other than the agent's."""
    return [c for c in layout.free_cells() if c != layout.agent]


@pytest.mark.parametrize("strategy, edit", EDITS.values(), ids=EDITS.keys())
@given(data=st.data())
def test_edits_leave_their_input_unchanged(strategy, edit, data):
    layout = data.draw(strategy)
    before, text = copy.deepcopy(layout), layout.to_ascii()
    edited = edit(layout, data)
    assert layout == before and layout.to_ascii() == text
    assert edited is not layout


@given(doorkeys)
def test_removing_the_key_leaves_everything_else_and_makes_the_level_unsolvable(layout):
    edited = edits.remove(layout, "key")
    assert edited.key is None
    assert edited.replace(key=layout.key) == layout
    assert not edited.solvable
    assert "no key" in edited.unsolvable_reason()


@given(mazes)
def test_removing_the_cheese_makes_the_maze_unsolvable(layout):
    edited = edits.remove(layout, "cheese")
    assert edited.cheese is None and edited.walls == layout.walls
    assert not edited.solvable


@given(doorkeys, st.data())
def test_place_puts_a_removed_key_back(layout, data):
    assert edits.place(edits.remove(layout, "key"), "key", layout.key) == layout
    to = data.draw(st.sampled_from(free(layout)))
    assert edits.place(edits.remove(layout, "key"), "key", to).key == to


@given(doorkeys, st.data())
def test_moving_the_key_changes_only_the_key(layout, data):
    to = data.draw(st.sampled_from(free(layout)))
    moved = edits.move(layout, "key", to)
    assert moved.key == to
    assert moved.replace(key=layout.key) == layout
    left_of_wall = to[0] < layout.door[0]
    assert moved.solvable == left_of_wall


def test_moving_an_object_onto_its_own_cell_returns_the_layout():
    layout = from_ascii("doorkey 5x5\n#####\n#K#.#\n#>D.#\n#.#G#\n#####")
    assert edits.move(layout, "key", (1, 1)) is layout


@given(doorkeys, colors, colors)
def test_recolored_key_and_door_open_only_when_the_colours_match(layout, key, door):
    edited = edits.recolor(layout, key=key, door=door)
    assert (edited.key_color, edited.door_color) == (key, door)
    assert edited.solvable == (key == door)
    if key != door:
        assert f"the {key} key does not open the {door} door" in edited.unsolvable_reason()


@given(doorkeys, colors)
def test_recoloring_one_object_keeps_the_other_colour(layout, color):
    assert edits.recolor(layout, door=color).key_color == layout.key_color
    assert edits.recolor(layout, key=color).door_color == layout.door_color


@given(mazes)
def test_open_top_right_opens_a_corridor_and_keeps_the_cheese_and_agent(layout):
    opened = edits.open_top_right(layout)
    w, h = layout.width, layout.height
    corridor = {(x, 1) for x in range(1, w - 1)} | {(w - 2, y) for y in range(1, h - 1)}
    assert corridor.isdisjoint(opened.walls)
    assert opened.walls == layout.walls - corridor
    assert (opened.cheese, opened.agent, opened.agent_dir) == (
        layout.cheese,
        layout.agent,
        layout.agent_dir,
    )
    assert opened.solvable
    assert edits.open_top_right(opened) == opened


def test_open_top_right_gives_a_straight_run_from_the_top_left_to_the_corner():
    maze = from_ascii(
        "cheesemaze 7x7\n#######\n#.#...#\n#.#.#.#\n#.#.#.#\n#...#C#\n#^###.#\n#######"
    )
    opened = edits.open_top_right(maze)
    assert opened.to_ascii().splitlines()[2] == "#.....#"
    assert opened.top_right in opened.reachable()


BAD = {
    "remove an object the family lacks": (
        lambda lay: edits.remove(lay, "cheese"),
        "doorkey layouts have no 'cheese'; objects: ['door', 'goal', 'key']",
    ),
    "remove a required object": (
        lambda lay: edits.remove(lay, "door"),
        "doorkey layouts need their door; only 'key' can go",
    ),
    "remove an absent object": (
        lambda lay: edits.remove(edits.remove(lay, "key"), "key"),
        "has no key to remove",
    ),
    "move onto a wall": (
        lambda lay: edits.move(lay, "key", (2, 1)),
        "(2, 1): the cell is not free",
    ),
    "move onto the agent": (lambda lay: edits.move(lay, "key", (1, 2)), "not free floor"),
    "move onto another object": (lambda lay: edits.move(lay, "key", (3, 3)), "not free floor"),
    "place a present object": (lambda lay: edits.place(lay, "key", (1, 3)), "use move()"),
    "unknown colour": (lambda lay: edits.recolor(lay, key="pink"), "key_color must be one of"),
    "agent onto the key": (lambda lay: edits.move_agent(lay, (1, 1)), "not free floor"),
    "bad agent direction": (lambda lay: edits.move_agent(lay, (1, 3), 7), "agent_dir must be"),
    "open a doorkey level": (
        edits.open_top_right,
        "open_top_right edits cheesemaze and paddedmaze layouts, not doorkey",
    ),
}


@pytest.mark.parametrize("edit, message", BAD.values(), ids=BAD.keys())
def test_bad_edits_raise_a_layout_error_saying_why(edit, message):
    layout = from_ascii("doorkey 5x5\n#####\n#K#.#\n#>D.#\n#.#G#\n#####")
    with pytest.raises(LayoutError) as error:
        edit(layout)
    assert message in str(error.value)


def test_recolor_refuses_levels_without_colours():
    maze = CheeseMazeLayout(
        width=3,
        height=3,
        walls=frozenset({(x, y) for x in range(3) for y in range(3)} - {(1, 1)}),
        agent=(1, 1),
        agent_dir=0,
    )
    with pytest.raises(LayoutError, match="only doorkey layouts have colours"):
        edits.recolor(maze, key="red")

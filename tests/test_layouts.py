"""Layouts are data: validated on construction, solvable or not by BFS, and written to and read
from ASCII without loss."""

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avec import edits, families, generators, strategies
from avec.layouts import (
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    LayoutError,
    UnsolvableLayoutError,
    from_ascii,
)

DOORKEY_5 = """
doorkey 5x5
#####
#K#.#
#>D.#
#.#G#
#####
"""

any_layout = st.one_of(
    strategies.doorkey_layouts(sizes=(5, 6, 8, 16)),
    strategies.fourrooms_layouts(),
    strategies.cheesemaze_layouts(sizes=(7, 9, 11, 25), cheese_region="anywhere"),
)


def test_hand_written_ascii_parses_to_the_level_it_draws():
    layout = from_ascii(DOORKEY_5)
    assert isinstance(layout, DoorKeyLayout)
    assert layout.size == (5, 5)
    assert (layout.agent, layout.agent_dir) == ((1, 2), 0)
    assert (layout.key, layout.door, layout.goal) == ((1, 1), (2, 2), (3, 3))
    assert layout.key_color == layout.door_color == "yellow"
    assert (2, 1) in layout.walls and (2, 3) in layout.walls and (1, 3) not in layout.walls
    assert layout.solvable


@given(any_layout)
def test_ascii_round_trip_of_drawn_layouts(layout):
    assert from_ascii(layout.to_ascii()) == layout


@given(
    st.sampled_from(["doorkey", "fourrooms", "cheesemaze"]),
    st.integers(0, 2**31 - 1),
    st.data(),
)
def test_ascii_round_trip_of_generated_layouts(family, seed, data):
    size = data.draw(st.sampled_from(families.get(family).sizes))
    layout = generators.generate(family, size, seed)
    assert from_ascii(layout.to_ascii()) == layout


@given(strategies.doorkey_layouts(), st.sampled_from(["red", "green", "blue", "purple", "grey"]))
def test_ascii_round_trip_keeps_colours_and_a_missing_key(layout, color):
    edited = edits.remove(edits.recolor(layout, key=color), "key")
    text = edited.to_ascii()
    assert f"key={color}" in text
    assert from_ascii(text) == edited


def test_ascii_ignores_blank_lines_and_trailing_spaces():
    text = "\n\n" + "\n".join(line + "  " for line in DOORKEY_5.splitlines()) + "\n\n"
    assert from_ascii(text) == from_ascii(DOORKEY_5)


def _with_row(row: int, new: str) -> str:
    lines = DOORKEY_5.strip().splitlines()
    lines[row] = new
    return "\n".join(lines)


MALFORMED = {
    "empty": ("", "empty layout text"),
    "unknown family": (DOORKEY_5.replace("doorkey", "maze"), "family one of"),
    "header without size": ("doorkey\n#####", "first line must be"),
    "size not a number": (DOORKEY_5.replace("5x5", "fivexfive"), "size must look like 5x5"),
    "too few rows": ("\n".join(DOORKEY_5.strip().splitlines()[:4]), "header says 5 rows, found 3"),
    "short row": (_with_row(2, "#K#."), "row 1 has 4 cells, header says 5"),
    "long row": (_with_row(2, "#K#..#"), "row 1 has 6 cells, header says 5"),
    "unknown character": (_with_row(2, "#K#x#"), "unknown character 'x' at (3, 1)"),
    "two agents": (_with_row(2, "#K#<#"), "exactly one the agent (one of > v < ^), found 2"),
    "no agent": (_with_row(3, "#.D.#"), "exactly one the agent (one of > v < ^), found 0"),
    "missing door": (_with_row(3, "#>#.#"), "exactly one 'D', found 0"),
    "two keys": (_with_row(4, "#K#G#"), "at most one 'K', found 2"),
    "object foreign to the family": (
        DOORKEY_5.replace("doorkey", "cheesemaze").replace("K", "."),
        "cannot hold",
    ),
    "open outer wall": (_with_row(1, "##.##"), "outer wall must be closed"),
    "no walls at all": ("fourrooms 3x3\n...\n.>.\n...", "outer wall must be closed"),
    "attribute without value": (DOORKEY_5 + "key", "expected key=value"),
    "unknown attribute": (
        DOORKEY_5 + "key=red shape=round",
        "unknown attributes for doorkey: ['shape']",
    ),
    "attribute of another family": (
        "fourrooms 5x5\n#####\n#>..#\n#...#\n#..G#\n#####\nkey=red",
        "unknown attributes",
    ),
    "unknown colour": (DOORKEY_5 + "door=pink", "door_color must be one of"),
    "repeated attribute": (DOORKEY_5 + "key=red key=blue", "attribute 'key' is set twice"),
}


@pytest.mark.parametrize("text, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_ascii_raises_a_layout_error_saying_what_is_wrong(text, message):
    with pytest.raises(LayoutError, match=re.escape(message)):
        from_ascii(text)


def test_unknown_family_error_lists_the_valid_families():
    with pytest.raises(LayoutError) as error:
        from_ascii(DOORKEY_5.replace("doorkey", "maze"))
    for family in ("doorkey", "fourrooms", "cheesemaze"):
        assert family in str(error.value)


def _doorkey(**changes) -> DoorKeyLayout:
    return dataclasses.replace(from_ascii(DOORKEY_5), **changes)


INVALID = {
    "agent on a wall": (dict(agent=(2, 1)), "agent at (2, 1) is outside the grid or on a wall"),
    "agent outside the grid": (dict(agent=(9, 9)), "outside the grid"),
    "key on the agent": (dict(key=(1, 2)), "key and agent both at (1, 2)"),
    "bad direction": (dict(agent_dir=4), "agent_dir must be 0..3"),
    "bad key colour": (dict(key_color="pink"), "key_color must be one of"),
    "wall outside the grid": (dict(walls=from_ascii(DOORKEY_5).walls | {(7, 7)}), "outside"),
    "too small": (dict(width=2, height=2, walls=frozenset()), "at least 3x3"),
}


@pytest.mark.parametrize("changes, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_layouts_cannot_be_constructed(changes, message):
    with pytest.raises(LayoutError, match=re.escape(message)):
        _doorkey(**changes)


def test_layouts_are_frozen_and_hashable():
    layout = from_ascii(DOORKEY_5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.agent = (1, 1)
    assert len({layout, from_ascii(DOORKEY_5), _doorkey(agent_dir=1)}) == 2


UNSOLVABLE = {
    "doorkey without key": (_doorkey(key=None), "no key"),
    "doorkey with mismatched colours": (_doorkey(key_color="red"), "red key does not open"),
    "doorkey key walled in": (
        from_ascii("doorkey 6x6\n######\n#K#..#\n###..#\n#>D..#\n#.#.G#\n######"),
        "key at (1, 1) cannot be reached",
    ),
    "doorkey door out of reach": (
        from_ascii("doorkey 6x6\n######\n#K#..#\n#>#..#\n###..#\n#.D.G#\n######"),
        "door at (2, 4) cannot be reached",
    ),
    "doorkey goal behind a wall": (
        from_ascii("doorkey 6x6\n######\n#K#..#\n#>D..#\n#.#.##\n#.##G#\n######"),
        "goal at (4, 4) cannot be reached",
    ),
    "fourrooms without goal": (
        from_ascii("fourrooms 5x5\n#####\n#>..#\n#...#\n#...#\n#####"),
        "no goal",
    ),
    "cheesemaze without cheese": (
        from_ascii("cheesemaze 5x5\n#####\n#...#\n#.#.#\n#^..#\n#####"),
        "no cheese",
    ),
    "cheese walled off": (
        from_ascii("cheesemaze 5x5\n#####\n#.#C#\n#.###\n#^..#\n#####"),
        "cheese at (3, 1) cannot be reached",
    ),
}


@pytest.mark.parametrize("layout, reason", UNSOLVABLE.values(), ids=UNSOLVABLE.keys())
def test_unsolvable_layouts_say_why(layout, reason):
    assert not layout.solvable
    assert re.search(re.escape(reason), layout.unsolvable_reason())
    with pytest.raises(UnsolvableLayoutError, match=re.escape(reason)):
        layout.require_solvable()


def test_a_key_between_agent_and_door_in_one_column_is_picked_up_on_the_way():
    # The key blocks the only corridor, but picking it up from the next cell clears it.
    layout = from_ascii("doorkey 5x5\n#####\n#.D.#\n#K#.#\n#^#G#\n#####")
    assert layout.solvable


@given(any_layout)
def test_drawn_layouts_are_solvable_and_their_free_cells_exclude_walls_and_objects(layout):
    assert layout.solvable
    taken = set(layout.walls) | {c for c in layout.objects().values() if c is not None}
    assert set(layout.free_cells()).isdisjoint(taken)
    assert layout.agent in layout.free_cells()


def test_each_family_parses_to_its_own_class():
    assert isinstance(generators.generate("fourrooms", 19, 0), FourRoomsLayout)
    text = generators.generate("cheesemaze", 9, 0).to_ascii()
    assert text.startswith("cheesemaze 9x9")
    assert isinstance(from_ascii(text), CheeseMazeLayout)

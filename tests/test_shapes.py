"""Look-alike characters: the shape source keeps the precision it was chosen for."""

from pathlib import Path

import pytest

from matching.shapes import is_lookalike, shape_code

DATA = Path(__file__).parent / "data"


def _pairs(name: str) -> list[tuple[str, str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [(a, b) for a, b in (line.split()[:2] for line in lines if line.strip() and not line.startswith("#"))]


@pytest.mark.parametrize(("a", "b", "alike"), [
    ("未", "末", True), ("己", "已", True), ("于", "干", True), ("江", "汪", True),
    ("栗", "粟", False),  # a real look-alike the strict criterion misses: same corners, strokes two apart
    ("张", "章", False),  # alike in sound, not in shape
    ("明", "强", False), ("伟", "强", False),  # brothers' names
    ("未", "未", False),  # the same character is no slip
])
def test_literal_pairs(a, b, alike):
    assert is_lookalike(a, b) is alike and is_lookalike(b, a) is alike


def test_measured_on_pairs_listed_by_hand():
    """100 look-alike pairs common in names and 5,000 random pairs of name characters (the
    measurement behind the choice in `matching.shapes`)."""
    true, random = _pairs("lookalike_pairs.txt"), _pairs("random_name_char_pairs.txt")
    assert len(true) == 100 and len(random) == 5000
    assert sum(is_lookalike(a, b) for a, b in true) == 46
    assert sum(is_lookalike(a, b) for a, b in random) == 1


def test_a_character_the_data_lacks_is_never_alike():
    assert shape_code("A") is None and not is_lookalike("A", "未")

import pytest

from interanimate import taxonomy as tx


def test_eighteen_patterns_in_four_families_with_the_documented_counts():
    assert tx.NUM_PATTERNS == 18 and len(set(tx.PATTERN_NAMES)) == 18
    counts = {family: len(tx.patterns_in_family(family)) for family in tx.FAMILIES}
    assert counts == {"poke": 5, "pinch": 4, "stroke": 4, "swipe": 5}
    for pattern in tx.PATTERNS:
        assert pattern.name.startswith(pattern.family + "_")
        assert pattern.region in tx.FACE_REGIONS
        assert tx.pattern_by_id(pattern.id) is pattern


def test_ids_are_stable_because_they_are_stored_in_annotation_files():
    # Reordering would silently relabel every dataset on disk.
    assert tx.PATTERN_IDS["poke_forehead"] == 0
    assert tx.PATTERN_IDS["swipe_face_downward"] == 17
    assert tx.region_id("forehead") == 0 and tx.region_id("temple_right") == 10
    assert tx.TAXONOMY_VERSION


def test_swipes_carry_a_direction_and_nothing_else_does():
    for pattern in tx.PATTERNS:
        assert (pattern.direction is not None) == (pattern.family == "swipe")


@pytest.mark.parametrize("typo, suggestion", [("poke_cheeck_left", "poke_cheek_left"),
                                              ("swipe_mouth_left", "swipe_mouth_leftward"),
                                              ("pinch_noze", "pinch_nose")])
def test_typos_get_did_you_mean_suggestions(typo, suggestion):
    with pytest.raises(tx.UnknownNameError, match=suggestion):
        tx.get_pattern(typo)


def test_unknown_region_and_family_are_named_errors():
    with pytest.raises(tx.UnknownNameError, match="cheek_left"):
        tx.region_id("cheek_lef")
    with pytest.raises(tx.UnknownNameError, match="unknown family"):
        tx.patterns_in_family("tickle")


def test_resolve_patterns_expands_families_and_deduplicates_in_taxonomy_order():
    chosen = tx.resolve_patterns(["swipe_face_downward", "pinch", "pinch_nose"])
    assert [p.name for p in chosen] == ["pinch_cheek_left", "pinch_cheek_right", "pinch_chin", "pinch_nose",
                                        "swipe_face_downward"]
    assert tx.resolve_patterns(None) == tx.PATTERNS

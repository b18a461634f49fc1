from interanimate.data.manifest import assign_splits


def test_splits_are_subject_disjoint_with_the_requested_share():
    subjects = [f"s{i:03d}" for i in range(200)]
    splits = assign_splits(subjects, test_fraction=0.1, seed=3)
    assert set(splits) == set(subjects)
    assert sum(v == "test" for v in splits.values()) == 20


def test_splits_depend_on_seed_but_not_on_order():
    subjects = [f"s{i}" for i in range(50)]
    a = assign_splits(subjects, 0.1, seed=1)
    assert a == assign_splits(list(reversed(subjects)), 0.1, seed=1)
    assert a != assign_splits(subjects, 0.1, seed=2)


def test_small_datasets_still_get_one_test_subject_and_one_train_subject():
    assert sorted(assign_splits(["a", "b"], 0.1).values()) == ["test", "train"]
    assert list(assign_splits(["only"], 0.1).values()) == ["train"]
    assert set(assign_splits(["a", "b", "c"], 0.0).values()) == {"train"}

import pytest

from embedlab import Encoder
from embedlab.adapt.data import TrainingSet
from embedlab.adapt.negatives import curriculum, mine_negatives
from embedlab.errors import InputError


def test_random_negatives_are_never_positives_and_reproducible(tiny_train):
    first = mine_negatives(tiny_train, "random", n=3, seed=1)
    again = mine_negatives(tiny_train, "random", n=3, seed=1)
    assert first.negatives == again.negatives
    for query_id, negatives in first.negatives.items():
        assert len(negatives) == len(set(negatives)) == 3
        assert not set(negatives) & set(tiny_train.positives[query_id])


def test_bm25_negatives_are_the_top_lexical_non_positive():
    train = TrainingSet(
        queries={"q": "bake bread dough"},
        corpus={
            "pos": "How to bake bread from dough.",
            "lexical": "Bread dough recipes and baking times.",
            "other": "Stock markets fell today.",
        },
        positives={"q": ["pos"]},
    )
    assert mine_negatives(train, "bm25", n=1).negatives == {"q": ["lexical"]}


def test_embedding_guard_skips_a_near_duplicate_of_the_positive(model):
    train = TrainingSet(
        queries={"q": "how do vaccines protect against infection"},
        corpus={
            "pos": "Vaccines train the immune system to recognise a pathogen before infection.",
            "copy": "Vaccines teach the immune system to recognise pathogens before an infection.",
            "related": "Antibiotics kill bacteria but do not work against viral infections.",
            "far": "The football team won the league title.",
        },
        positives={"q": ["pos"]},
    )
    encoder = Encoder(model, show_progress=False)
    unguarded = mine_negatives(train, "embedding", n=1, encoder=encoder, margin=None)
    guarded = mine_negatives(train, "embedding", n=1, encoder=encoder, margin=0.95)
    assert unguarded.negatives == {"q": ["copy"]}  # the false negative a naive miner picks
    assert guarded.negatives == {"q": ["related"]}
    assert guarded.skipped["margin"] == 1


def test_rank_window_skips_the_first_candidates(tiny_train, model):
    encoder = Encoder(model, show_progress=False)
    top = mine_negatives(tiny_train, "embedding", n=2, encoder=encoder, margin=None)
    windowed = mine_negatives(tiny_train, "embedding", n=1, encoder=encoder, margin=None, skip_top=1)
    for query_id in tiny_train.queries:
        assert windowed.negatives[query_id] == top.negatives[query_id][1:2]


def test_curriculum_goes_from_easy_to_hard():
    assert curriculum(1) == ["embedding"]
    assert curriculum(2) == ["bm25", "embedding"]
    assert curriculum(3) == ["random", "bm25", "embedding"]
    assert curriculum(7) == ["random", "random", "bm25", "bm25", "embedding", "embedding", "embedding"]
    with pytest.raises(InputError):
        curriculum(0)


def test_bad_requests_are_clear_errors(tiny_train):
    with pytest.raises(InputError, match="encoder"):
        mine_negatives(tiny_train, "embedding")
    with pytest.raises(InputError, match="Unknown negative strategy"):
        mine_negatives(tiny_train, "hardest")  # type: ignore[arg-type]
    only_positives = TrainingSet({"q": "x"}, {"d": "doc"}, {"q": ["d"]})
    with pytest.raises(InputError, match="no documents left"):
        mine_negatives(only_positives, "random")


def test_any_search_function_is_mined_behind_the_same_guard():
    train = TrainingSet(
        queries={"q": "query"},
        corpus={"pos": "answer", "near": "close", "copy": "answer", "mid": "related", "far": "unrelated"},
        positives={"q": ["pos"]},
    )
    ranking = [("near", 0.9), ("pos", 0.8), ("copy", 0.79), ("mid", 0.5), ("far", 0.1)]

    def search(queries, k):
        return [ranking[:k] for _ in queries]

    # margin: 0.95 x 0.8 = 0.76, so "near" and "copy" are skipped; "copy" repeats the positive's text anyway
    guarded = mine_negatives(train, search, n=1, margin=0.95)
    assert guarded.negatives == {"q": ["mid"]} and guarded.skipped["margin"] == 2
    assert mine_negatives(train, search, n=2, margin=None).negatives == {"q": ["near", "mid"]}
    # a ranking that stops before the positive: the positive scores at most the last score (0.5 here)
    short = mine_negatives(train, lambda queries, k: [ranking[:1] + ranking[3:4]], n=1, margin=0.95, seed=0)
    assert short.skipped == {"margin": 2, "window": 0, "random_fill": 1}
    assert short.negatives["q"][0] in {"near", "mid", "far"}

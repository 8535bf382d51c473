from hypothesis import given, settings
from hypothesis import strategies as st

from watchlist import PersonEntry, PersonQuery, WatchlistIndex, fold_latin, name_similarity, tokens

VIET = st.sampled_from("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")
WORD = st.text(VIET, min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=1, max_size=4))
def test_fold_is_ascii_and_idempotent(words):
    text = " ".join(words)
    folded = fold_latin(text)
    assert folded.isascii() and fold_latin(folded) == folded
    assert fold_latin(text.upper()) == folded


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=2, max_size=4), st.randoms())
def test_token_order_does_not_matter(words, rnd):
    shuffled = list(words)
    rnd.shuffle(shuffled)
    score, _ = name_similarity(tokens(" ".join(words)), tokens(" ".join(shuffled)))
    assert score >= 0.97


@settings(max_examples=100, deadline=None)
@given(st.lists(WORD, min_size=2, max_size=4), st.dates().map(str))
def test_an_indexed_person_is_always_found_by_its_own_name(words, dob):
    ix = WatchlistIndex()
    name = " ".join(words)
    ix.upsert(PersonEntry("x", (name,), date_of_birth=dob))
    found = ix.check(PersonQuery(name.upper(), dob))
    assert found and found[0].entry_id == "x" and found[0].hit


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(WORD, min_size=1, max_size=3), st.one_of(st.none(), st.dates().map(str))),
                min_size=1, max_size=8),
       st.lists(WORD, min_size=1, max_size=3), st.one_of(st.none(), st.dates().map(str)))
def test_one_query_scored_against_many_entries_scores_each_as_a_fresh_query_would(entries, name, dob):
    """match_person works the query out once and keeps each distinct spelling's name score on the query (an index
    scores hundreds of candidates sharing a surname and middle name): the scores and reasons are those of a fresh
    query for every entry, whatever the order."""
    from watchlist import match_person

    people = [PersonEntry(f"p{i}", (" ".join(words),), date_of_birth=d) for i, (words, d) in enumerate(entries)]
    people += people[:1]  # the same spelling again, scored from what the query kept
    shared = PersonQuery(" ".join(name), dob)
    for person in people:
        assert match_person(shared, person) == match_person(PersonQuery(" ".join(name), dob), person)


def test_the_index_returns_the_best_candidates_as_match_person_scores_them():
    """check_person makes a Match for the best ``limit`` candidates only: the same matches, in the same order, as
    scoring every candidate with match_person and keeping the best (a common name: hundreds of candidates)."""
    import random

    from watchlist import match_person

    rng = random.Random(5)
    ix = WatchlistIndex()
    given = ["An", "Anh", "Vân", "Văn", "Vinh", "Việt", "Hòa", "Hà", "Hải", "Nam"]
    for i in range(600):
        name = f"Nguyễn {rng.choice(['Văn', 'Thị', 'Vân'])} {rng.choice(given)}"
        ix.upsert(PersonEntry(f"p{i:03d}", (name,), date_of_birth=f"{rng.randint(1984, 1988)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                              nationality=rng.choice(["VNM", "CHN", None])))
    for name, dob in (("Nguyễn Văn Vân", "1986-06-17"), ("NGUYEN<VAN<ANH", "1985"), ("Nguyễn Thị Hà", None)):
        query = PersonQuery(name, dob, "VNM")
        every = [match_person(query, ix.get(i), dob_window_days=ix.dob_window_days, threshold=ix.threshold,
                              near_threshold=ix.near_threshold) for i in ix._candidates(query)]
        every = sorted((m for m in every if m.score >= ix.threshold * 0.5), key=lambda m: (-m.score, m.entry_id))
        assert len(every) > 10
        for limit in (1, 10, len(every) + 5):
            assert ix.check_person(query, limit=limit) == every[:limit]

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

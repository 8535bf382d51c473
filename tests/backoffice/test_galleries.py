"""The 1:N galleries behind the duplicate check: shortlist then exact comparison; segmented finger index."""

import numpy as np

from backoffice import FaceMatching, FingerprintMatching
from backoffice._galleries import FaceGallery, FingerGallery
from biometrics.face import FaceTemplate, compare
from biometrics.finger import FingerprintTemplate
from tests.backoffice.test_enrolments import finger


def _templates(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, s = rng.normal(size=(n, 128)), rng.normal(size=(n, 128))
    return d / np.linalg.norm(d, axis=1, keepdims=True), s / np.linalg.norm(s, axis=1, keepdims=True)


def test_face_gallery_shortlists_then_compares_full_templates():
    matching = FaceMatching.from_engine(shortlist=8)
    gallery = FaceGallery(matching, capacity=16)  # grows past its first capacity
    d, s = _templates(300)
    for i in range(300):
        gallery.add(f"e{i}", f"s{i}", FaceTemplate(vector=d[i], sface=s[i]))
    assert len(gallery) == 300
    probe = FaceTemplate(vector=d[123] + 0.01 * d[7], sface=s[123])
    rows = gallery.shortlist("someone", probe)
    assert 8 <= len(rows) <= 16 and 123 in rows  # the best 8 by each part, not the whole gallery
    assert [x["enrolment_id"] for x in gallery.duplicates("someone", probe)] == ["e123"]
    assert gallery.duplicates("s123", probe) == []  # the subject's own enrolment is not a duplicate
    # a template sharing only the dlib part: shortlisted (dlib cosine 1.0) but not a duplicate once fused
    half = FaceTemplate(vector=d[42], sface=s[43])
    assert 42 in gallery.shortlist("someone", half)
    assert gallery.duplicates("someone", half) == []
    assert compare(half, FaceTemplate(vector=d[42], sface=s[42])) < matching.threshold < 0.9999


def test_face_gallery_small_enough_is_compared_exhaustively():
    gallery = FaceGallery(FaceMatching.from_engine(shortlist=50))
    d, s = _templates(40, seed=3)
    for i in range(40):
        gallery.add(f"e{i}", "same" if i < 5 else f"s{i}", FaceTemplate(vector=d[i], sface=s[i]))
    assert sorted(gallery.shortlist("same", FaceTemplate(vector=d[0], sface=s[0]))) == list(range(5, 40))


def test_finger_gallery_segments_merge_and_still_find_old_duplicates():
    matching = FingerprintMatching.from_engine()
    gallery = FingerGallery(matching, tail=2, rerank=5, max_segment=16)  # tails of 2 + position
    for i in range(27):
        gallery.add(f"e{i}", f"s{i}", [(2, finger(100 + i)), (3, finger(200 + i))])
    # binary counters of sealed tails, up to 16
    assert gallery.segments(2) == [16, 8, 3] and gallery.segments(3) == [10, 10, 5, 2]  # 10 + 10 > 16
    assert gallery.segments(7) == [0] and len(gallery) == 54
    for who, seed in (("e1", 101), ("e20", 120), ("e26", 126)):  # in the big segment, the small one, the tail
        probe = FingerprintTemplate.from_bytes(finger(seed, jitter=2))
        found = gallery.duplicates("new", [(2, probe)])
        assert [x["enrolment_id"] for x in found] == [who], found
        assert found[0]["score"] >= matching.duplicate_threshold
        assert gallery.duplicates(f"s{who[1:]}", [(2, probe)]) == []  # the same subject re-enrolling
        assert gallery.duplicates("new", [(4, probe)]) == []  # compared at its own finger position only
    assert gallery.duplicates("new", [(2, FingerprintTemplate.from_bytes(finger(999)))]) == []

"""The LEADER minutiae source (issue #21): the default extractor, in this package's conventions."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from biometrics.finger import FingerprintMatcher, FingerprintTemplate
from tests.conftest import shared_path


def _img(db: str, finger: int, imp: int) -> np.ndarray:
    return cv2.imread(str(shared_path("fingerprints", db, f"{finger}_{imp}.tif")), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def pair():
    img = _img("fvc2002_DB1", 101, 1)
    return FingerprintTemplate(img), FingerprintTemplate(img, extractor="stft")


def test_leader_minutiae_sit_where_the_stft_extractor_finds_them_pointing_the_same_way(pair):
    leader, stft = pair
    assert leader.minutiae != stft.minutiae
    near, agree = 0, 0
    for m in leader.minutiae:
        d = [(math.hypot(m.x - o.x, m.y - o.y), o) for o in stft.minutiae]
        dist, o = min(d, key=lambda t: t[0])
        if dist <= 6:
            near += 1
            diff = abs((m.direction - o.direction + math.pi) % (2 * math.pi) - math.pi)
            agree += diff < math.pi / 4
    assert near >= 0.4 * len(leader.minutiae)
    assert agree >= 0.8 * near  # one direction convention (LEADER's own points the other way)


def test_leader_minutiae_are_typed_and_rated(pair):
    leader, _ = pair
    assert {m.type for m in leader.minutiae} == {"ending", "bifurcation"}
    # LEADER's confidence (detection threshold 0.55) times its block's reliability (issue #21 item 2)
    assert all(1 <= m.quality <= 100 for m in leader.minutiae)
    assert np.median([m.quality for m in leader.minutiae]) >= 45  # a good impression: most blocks fully reliable
    assert len(leader.minutiae) <= 150


def test_the_two_extractors_score_one_finger_alike(pair):
    leader, stft = pair
    other = FingerprintTemplate(_img("fvc2002_DB1", 101, 2))
    other_stft = FingerprintTemplate(_img("fvc2002_DB1", 101, 2), extractor="stft")
    assert FingerprintMatcher(leader).match(other) > 0.2
    assert FingerprintMatcher(stft).match(other_stft) > 0.2


def test_unknown_extractor_is_refused():
    with pytest.raises(ValueError, match="unknown minutiae extractor"):
        FingerprintTemplate(_img("fvc2002_DB1", 101, 1), extractor="nbis")

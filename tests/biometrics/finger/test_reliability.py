"""Minutia reliability in the match (issue #21 item 2): LEADER minutiae in smudged or low-contrast
blocks keep less quality, and the matcher can weight by it (off by default: see the README)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from biometrics.finger import FingerprintMatcher, FingerprintTemplate, Minutia, _mcc
from biometrics.finger._matcher import RELIABILITY, reliability_weights
from tests.conftest import shared_path


def _img(finger: int, imp: int) -> np.ndarray:
    return cv2.imread(str(shared_path("fingerprints", "fvc2002_DB1", f"{finger}_{imp}.tif")), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def pair():
    return FingerprintTemplate(_img(101, 1)), FingerprintTemplate(_img(101, 2)), FingerprintTemplate(_img(102, 1))


def test_low_contrast_blocks_lower_the_minutia_quality():
    img = _img(103, 1).astype(np.float32)
    h, w = img.shape
    faded = img.copy()
    left = faded[:, : w // 2]
    faded[:, : w // 2] = left.mean() + (left - left.mean()) * 0.25  # a dry, faint left half
    base = FingerprintTemplate(img.astype(np.uint8))
    t = FingerprintTemplate(np.clip(faded, 0, 255).astype(np.uint8))
    q_left = [m.quality for m in t.minutiae if m.x < w // 2 - 20]
    q_right = [m.quality for m in t.minutiae if m.x > w // 2 + 20]
    assert q_left and q_right
    assert np.median(q_left) < 0.6 * np.median(q_right)
    assert all(0 <= m.quality <= 100 for m in t.minutiae)
    # the untouched image: the two halves are alike
    b_left = [m.quality for m in base.minutiae if m.x < w // 2 - 20]
    b_right = [m.quality for m in base.minutiae if m.x > w // 2 + 20]
    assert np.median(b_left) > 0.6 * np.median(b_right)


def test_default_is_unweighted_and_equal_to_plain_mcc(pair):
    a, b, _ = pair
    assert RELIABILITY == 0.0
    assert FingerprintMatcher(a).match(b) == _mcc.score(a.cylinders(), b.cylinders())


def test_uniform_reliability_changes_nothing(pair):
    a, b, _ = pair
    flat_a = FingerprintTemplate.from_minutiae([Minutia(m.x, m.y, m.direction, m.type, 70) for m in a.minutiae],
                                               width=a.width, height=a.height)
    flat_b = FingerprintTemplate.from_minutiae([Minutia(m.x, m.y, m.direction, m.type, 40) for m in b.minutiae],
                                               width=b.width, height=b.height)
    plain = FingerprintMatcher(flat_a).match(flat_b)
    assert FingerprintMatcher(flat_a, reliability=1.0).match(flat_b) == pytest.approx(plain, rel=1e-6)


def test_weighting_discounts_unreliable_spurious_minutiae(pair):
    a, b, c = pair
    rng = np.random.default_rng(7)
    # 40 spurious minutiae of low quality over the probe, as a wet impression gives
    spurious = [Minutia(int(rng.integers(40, a.width - 40)), int(rng.integers(40, a.height - 40)),
                        float(rng.uniform(0, 2 * math.pi)), "ending", 8) for _ in range(40)]
    noisy = FingerprintTemplate.from_minutiae([*a.minutiae, *spurious], width=a.width, height=a.height)
    plain = FingerprintMatcher(noisy).match(b)
    weighted = FingerprintMatcher(noisy, reliability=1.0).match(b)
    assert weighted > plain  # the genuine mate's score recovers part of what the spurious minutiae cost
    assert FingerprintMatcher(noisy, reliability=1.0).match(c) < weighted


def test_reliability_of_decoded_records(pair):
    a, _, _ = pair
    back = FingerprintTemplate.from_bytes(a.to_bytes())
    assert np.allclose(back.reliability(), [m.quality / 100 for m in a.minutiae], atol=0.011)
    unreported = FingerprintTemplate.from_minutiae([Minutia(m.x, m.y, m.direction, m.type, 0) for m in a.minutiae],
                                                   width=a.width, height=a.height)
    assert np.all(unreported.reliability() == 1.0)  # ISO 19794-2: 0 = not reported, not "worthless"
    w = reliability_weights(a, 1.0)
    assert w is not None and w.mean() == pytest.approx(1.0)
    assert reliability_weights(a, 0.0) is None
    with pytest.raises(ValueError):
        FingerprintMatcher(a, reliability=-1)

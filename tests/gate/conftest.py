"""Fixtures of the joint lane's tests (tests/gate/test_joint_lane.py, test_joint_lane_faults.py): the two
administrations' issuers and a Vietnamese passport."""

from __future__ import annotations

import pytest

from emrtd.sim import IssuerPki, issue_document
from tests.gate.test_gate_emrtd import EXPIRY, photo_png, td3

#: the Vietnamese passport's document number in the joint lane's tests
NUMBER = "C1234567"


@pytest.fixture(scope="module")
def pkis():
    """Two administrations' trust: Vietnam's CSCA and China's, each with its current CRL."""
    return {"VNM": IssuerPki.make("VN"), "CHN": IssuerPki.make("CN")}


@pytest.fixture(scope="module")
def vn_doc(pkis):
    return issue_document(td3(NUMBER, "900315", EXPIRY), photo_png(), pki=pkis["VNM"])

"""The gate's liveness policy (issue #23 item 2), through the composition a deployment uses
(``smartborder.compose.gate.build_gate``) with simulated reader, camera and door, and a face engine whose
passive PAD verdict and active challenge are scripted (the engine port): every row of the table.

    passive live    -> no challenge; opens on a match (path "passive")
    passive doubt   -> the challenge; opens only if it passes (path "passive+challenge")
    passive unknown -> as doubt; a PAD engine that fails is "unknown"
    passive attack  -> referred at once, never challenged, never opened
    challenge-all   -> challenged whatever passive says (an attack still refers at once)
and the path and the passive score in the transaction record and the exception record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import IssuerPki, issue_document, trust_for_issued_document
from gate import CheckStatus, Evidence, FaceEngine, Outcome, PolicyConfig, decide
from smartborder.compose.gate import GateConfig, GateConfigError, GateDevices, build_gate, gate_config
from smartborder.settings import load_settings
from tests.gate.test_gate_emrtd import EXPIRY, Q, V, photo_png, td3


@pytest.fixture(scope="module")
def pki():
    return IssuerPki.make("VN")


class Cam:
    """A traveller at the reader: bright frames; counts what the gate took."""

    def __init__(self, value: int = 200) -> None:
        self.value, self.served = value, 0

    def frames(self):
        while True:
            self.served += 1
            yield np.full((120, 100, 3), self.value, np.uint8)


@dataclass
class Script:
    """The engine's scripted passive verdict and challenge outcome, and what was asked of them."""

    passive: str | None = "live"  # None: no passive engine; "raise": the PAD engine fails
    challenge_passes: bool = True
    score: float = 0.9
    sessions: list = field(default_factory=list)
    passive_frames: int = 0
    #: per attempt (PAD session / challenge session), the last one repeated; None: ``passive`` /
    #: ``challenge_passes`` on every attempt
    passive_sequence: list | None = None
    challenge_sequence: list | None = None
    pad_sessions: int = 0

    def engine(self) -> FaceEngine:
        script = self

        class Passive:
            def __init__(self):
                seq = script.passive_sequence
                self.verdict = script.passive if seq is None else seq[min(script.pad_sessions, len(seq) - 1)]
                script.pad_sessions += 1

            def feed(self, frame, t):
                script.passive_frames += 1
                if self.verdict == "raise":
                    raise RuntimeError("PAD model failed")
                score = {"live": 0.93, "doubt": 0.35, "attack": 0.05, "unknown": None}[self.verdict]
                return SimpleNamespace(score=score, decision=self.verdict,
                                       reasons=() if self.verdict == "live" else ("moire",))

            def close(self):
                pass

        class Challenge:
            def __init__(self):
                self.n = 0
                seq = script.challenge_sequence
                self.passes = (script.challenge_passes if seq is None
                               else seq[min(len(script.sessions), len(seq) - 1)])
                script.sessions.append(self)

            def feed(self, frame, t):
                self.n += 1
                done = self.n >= 4
                return SimpleNamespace(instruction_key=None if done else "blink", done=done,
                                       passed=done and self.passes,
                                       reason=None if self.passes else "timeout: blink")

        return FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(self.score), session=Challenge,
                          passive=Passive if self.passive is not None else None,
                          passive_thresholds={"attack_below": 0.2, "live_at_or_above": 0.5})


def lane(pki, script: Script, liveness: str = "passive+challenge-on-doubt", number: str = "C7000001",
         camera=None, **kw):
    """A gate built as deployed (compose.gate) on simulated devices, one traveller presented."""
    doc = issue_document(td3(number, "900315", EXPIRY), photo_png(), pki=pki)
    reader, mrz, cam = SimulatedReader(), FixedMrzSource(), camera or Cam()
    config = GateConfig(trust_path=Path("unused"), gate_id="g-live", env="dev", liveness=liveness,
                        fingerprints="off", **kw)
    gate = build_gate(config, GateDevices(reader, cam, LoggingDoor(), mrz_source=mrz), face_engine=script.engine(),
                      trust=trust_for_issued_document(doc))
    gate.store.apply_watchlist_changes([], 1)
    reader.present(doc)
    mrz.place(doc.mrz)
    return gate, cam


def serve(pki, script: Script, liveness: str = "passive+challenge-on-doubt", **kw):
    gate, cam = lane(pki, script, liveness, **kw)
    try:
        return gate.workflow.process(), gate
    finally:
        gate.close()


def liveness_record(result) -> dict:
    return result.decision.to_dict().get("liveness", {})


@pytest.mark.parametrize(("passive", "score", "challenged", "opens", "reasons"), [
    ("live", 0.9, False, True, []),
    ("live", 0.1, False, False, ["face_mismatch"]),
    ("doubt", 0.9, True, True, []),
    ("unknown", 0.9, True, True, []),
    ("raise", 0.9, True, True, []),
])
def test_the_policy_table_on_the_default_lane(pki, passive, score, challenged, opens, reasons):
    script = Script(passive=passive, score=score)
    r, gate = serve(pki, script)
    assert r.opened is opens, r.decision.explain()
    assert [str(x) for x in r.decision.reasons] == reasons
    assert bool(script.sessions) is challenged  # the challenge ran only on doubt
    rec = liveness_record(r)
    assert rec["liveness_path"] == ("passive+challenge" if challenged else "passive")
    assert rec["passive_decision"] == ("unknown" if passive == "raise" else passive)
    # the gate's own transaction record says it too
    (stored,) = gate.store.transactions()
    assert stored["decision"]["liveness"] == rec


@pytest.mark.parametrize("passive", ["doubt", "unknown"])
def test_a_doubtful_passive_verdict_never_opens_without_the_challenge(pki, passive):
    r, _ = serve(pki, Script(passive=passive, challenge_passes=False))
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert liveness_record(r)["liveness_path"] == "passive+challenge"


@pytest.mark.parametrize("liveness", ["passive+challenge-on-doubt", "challenge-all"])
def test_a_passive_attack_is_referred_at_once_and_never_challenged(pki, liveness):
    script = Script(passive="attack", score=0.99)  # the face matches: the attack still refers
    r, gate = serve(pki, script, liveness)
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert script.sessions == []  # no second try with another instrument
    finding = next(f for f in r.decision.findings if f.rule == "liveness")
    assert "passive presentation attack detection: attack" in finding.detail
    assert liveness_record(r) == {"liveness_path": "passive", "passive_decision": "attack", "passive_score": 0.05}
    (item,) = gate.store.outbox.pending("exception")
    exc = gate.store.outbox.load(item.id)
    assert exc["scores"]["liveness_passive"] == 0.05 and "path passive" in exc["message"]
    assert "passive_attack" in exc["message"]


@pytest.mark.parametrize("passive", ["live", "doubt", None])
def test_challenge_all_challenges_everyone(pki, passive):
    script = Script(passive=passive)
    r, _ = serve(pki, script, "challenge-all")
    assert r.opened, r.decision.explain()
    assert len(script.sessions) == 1
    assert liveness_record(r)["liveness_path"] == ("challenge" if passive is None else "passive+challenge")


def test_the_earlier_active_setting_is_the_challenge_alone(pki):
    script = Script(passive="live")
    r, _ = serve(pki, script, "active")
    assert r.opened and len(script.sessions) == 1 and script.passive_frames == 0
    assert liveness_record(r) == {"liveness_path": "challenge", "passive_decision": None, "passive_score": None}


def test_a_lane_that_cannot_challenge_refers_a_doubt(pki):
    script = Script(passive="doubt")
    gate, _ = lane(pki, script)
    gate.workflow.steps.face.engine.session = None  # no lane display: the challenge cannot run
    try:
        r = gate.workflow.process()
    finally:
        gate.close()
    assert not r.opened and r.decision.status("liveness") is CheckStatus.MISSING


def test_off_runs_no_liveness_and_is_an_explicit_relaxation(pki):
    script = Script(passive="attack")
    r, _ = serve(pki, script, "off")
    assert r.opened and script.passive_frames == 0 and script.sessions == []
    assert r.decision.status("liveness") is CheckStatus.NOT_REQUIRED
    assert liveness_record(r)["liveness_path"] == "off"


def test_the_passive_path_stops_capturing_once_certain(pki):
    script = Script(passive="live")
    r, _ = serve(pki, script)
    # 6 frames for the passive verdict (3 good ones for the match among them), nothing after the chip
    assert r.opened and script.passive_frames == 6


# -- the rule itself: what the record says must be consistent with the lane ------------------------------------
GOOD = dict(today=dt.date(2026, 1, 1), document_type="P", issuing_state="VNM", date_of_birth=dt.date(1990, 1, 1),
            date_of_expiry=dt.date(2030, 1, 1), chip_read=True, pa_passed=True, csca_chain=True, dsc_revocation=True,
            data_groups=(("DG1", True), ("DG2", True)), aa_offered=False, ca_offered=False, mrz_matches_dg1=True,
            face_acquired=True, liveness_passed=True, face_score=0.9, face_threshold=0.5, finger_enrolled=False,
            watchlist_checked=True, watchlist_age_s=10.0, persons_in_lane=1)


@pytest.mark.parametrize(("evidence", "policy", "status"), [
    ({"liveness_path": "passive", "passive_decision": "live"}, {"liveness_policy": "passive+challenge-on-doubt"},
     CheckStatus.PASSED),
    # the rule's own default is the strict lane: a passive "live" alone opens only where the lane says so
    ({"liveness_path": "passive", "passive_decision": "live"}, {}, CheckStatus.MISSING),
    ({"liveness_path": "passive+challenge", "passive_decision": "doubt"}, {}, CheckStatus.PASSED),
    # a step claiming a pass on a doubtful passive verdict with no challenge is not believed
    ({"liveness_path": "passive", "passive_decision": "doubt"}, {}, CheckStatus.MISSING),
    ({"liveness_path": "passive", "passive_decision": "unknown"}, {}, CheckStatus.MISSING),
    ({"liveness_path": "off", "passive_decision": None}, {}, CheckStatus.MISSING),
    # a lane that challenges everyone does not open on passive alone
    ({"liveness_path": "passive", "passive_decision": "live"}, {"liveness_policy": "challenge-all"},
     CheckStatus.MISSING),
    ({"liveness_path": None}, {"liveness_policy": "challenge-all"}, CheckStatus.MISSING),
    ({"liveness_path": "challenge"}, {"liveness_policy": "active"}, CheckStatus.PASSED),
    # an attack refers whatever passed and whatever the lane relaxes
    ({"liveness_path": "passive+challenge", "passive_decision": "attack"}, {}, CheckStatus.FAILED),
    ({"passive_decision": "attack"}, {"require_liveness": False}, CheckStatus.FAILED),
])
def test_the_liveness_rule(evidence, policy, status):
    d = decide(Evidence(**(GOOD | evidence)), PolicyConfig(**policy))
    assert d.status("liveness") is status
    assert (d.outcome is Outcome.OPEN) is (status is CheckStatus.PASSED)


def test_settings_keep_the_earlier_values_and_refuse_unknown_ones(tmp_path):
    def config(**kw):
        settings = load_settings(environ={}, data_dir=tmp_path / "d", key_dir=tmp_path / "k", gate_trust=tmp_path,
                                 **kw)
        return gate_config(settings, db_path=None)

    assert config().liveness == "challenge-all"  # fail closed: opening on passive PAD alone is an explicit choice
    assert GateConfig(trust_path=tmp_path).liveness == "challenge-all"
    for value in ("passive+challenge-on-doubt", "active", "off"):
        c = config(gate_liveness=value)
        assert c.liveness == value and c.policy().require_liveness is (value != "off")
    assert config(gate_liveness="off").relaxations()[0] == "liveness=off"
    with pytest.raises(Exception, match="gate_liveness|liveness"):
        config(gate_liveness="passive-only")
    with pytest.raises(GateConfigError, match="liveness must be one of"):
        build_gate(GateConfig(trust_path=tmp_path, env="dev", liveness="sometimes"), None)


@pytest.mark.parametrize("first", ["doubt", "unknown"])
@pytest.mark.parametrize("second_challenge", [False, True])
def test_after_a_doubt_and_a_failed_challenge_a_passive_live_retry_still_needs_the_challenge(
        pki, first, second_challenge):
    """Review of #23: the worst verdict carries across attempts. Attempt 1: doubt, the challenge fails;
    attempt 2: the PAD says live -> the challenge is still required (never a passive-only open)."""
    script = Script(passive_sequence=[first, "live"], challenge_sequence=[False, second_challenge])
    r, gate = serve(pki, script, "passive+challenge-on-doubt")
    assert script.pad_sessions == 2  # there was a second attempt, and its PAD said live
    assert len(script.sessions) == 2  # ... and it was challenged all the same
    assert r.opened is second_challenge, r.decision.explain()
    if not second_challenge:
        assert [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert liveness_record(r)["liveness_path"] == "passive+challenge"


def test_an_attack_on_the_retry_refers_even_after_a_passed_challenge_elsewhere(pki):
    script = Script(passive_sequence=["doubt", "attack"], challenge_sequence=[False, True])
    r, _ = serve(pki, script, "passive+challenge-on-doubt")
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert len(script.sessions) == 1  # the attack on attempt 2 is not challenged


def test_the_default_lane_challenges_a_passive_live_traveller(pki, caplog):
    """Review of #23: the default ``[gate] liveness`` is "challenge-all" (the PAD model is evaluated on simulated
    attacks only): a passive "live" alone never opens it; the passive-only lane is explicit and warned of."""
    doc = issue_document(td3("C7000009", "900315", EXPIRY), photo_png(), pki=pki)
    script = Script(passive="live")
    reader, mrz = SimulatedReader(), FixedMrzSource()
    config = GateConfig(trust_path=Path("unused"), gate_id="g-default", env="dev", fingerprints="off")
    gate = build_gate(config, GateDevices(reader, Cam(), LoggingDoor(), mrz_source=mrz),
                      face_engine=script.engine(), trust=trust_for_issued_document(doc))
    try:
        gate.store.apply_watchlist_changes([], 1)
        reader.present(doc)
        mrz.place(doc.mrz)
        r = gate.workflow.process()
    finally:
        gate.close()
    assert r.opened and len(script.sessions) == 1  # challenged although the PAD said live
    assert liveness_record(r)["liveness_path"] == "passive+challenge"
    assert "opens on passive liveness evidence alone" not in caplog.text
    caplog.clear()
    lane(pki, Script(), "passive+challenge-on-doubt")[0].close()
    assert "opens on passive liveness evidence alone" in caplog.text

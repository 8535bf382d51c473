"""Passive Authentication, ICAO Doc 9303 Part 11 §5.1 (with the PKI of Part 12).

:func:`passive_authentication` checks, and lists in a :class:`PassiveAuthResult`, each step with its
outcome (True, False, or None when it could not be performed) and the reason:

1. ``sod``            EF.SOD decodes as CMS SignedData with an LDSSecurityObject (Part 10 §4.6.2);
2. ``sod_signature``  the signer info verifies with the Document Signer certificate (Part 11 §5.1.1 step 2);
3. ``dg_hash:DGn``    every data group read hashes to the value in the SOD (step 3); a DG read but not in
                      the SOD fails; one in the SOD but not read is not checked;
4. ``dsc_validity``   the DSC was valid when the SOD was signed (signing-time attribute; a document stays
                      valid after its DSC expires, Part 12 §7.1.1); without a signing time, at the time of
                      inspection (``at``, default now); a signing time in the future fails;
5. ``dsc_chain``      the DSC is signed by a trusted CSCA that was itself valid then (step 1, Part 12 §5);
6. ``dsc_revocation`` the DSC is not on that CSCA's CRL (Part 12 §7.1.3); its ``code`` names the outcome:
                      ``not_revoked``, ``revoked``, ``no_crl``, ``no_next_update``, or ``stale_crl`` (not on the
                      CRL held, but that CRL is past its next update: not performed, a policy decides);
                      a DSC the SOD does not carry is taken from the trust store (PKD DSCs) when it holds it.

Without a trust store the chain and revocation checks are reported as not performed and the rest is
still verified. ``valid`` is True when no check failed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from emrtd._ecparams import EcParametersError
from emrtd._sod import Sod, SodError, SodSignatureError
from emrtd._trust import CertificateLoadError, TrustStore, signed_by, verify_issued_by

__all__ = ["PaCheck", "PassiveAuthResult", "passive_authentication"]


@dataclass
class PaCheck:
    """One Passive Authentication step: ``passed`` is True, False, or None (not performed)."""

    name: str
    passed: bool | None
    reason: str = ""
    code: str = ""  # a named cause where one applies, e.g. ``ec_parameters_unknown_curve`` (see _key_problem)

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "reason": self.reason, "code": self.code}


@dataclass
class PassiveAuthResult:
    checks: list[PaCheck] = field(default_factory=list)
    sod: Sod | None = None
    dsc: x509.Certificate | None = None
    csca: x509.Certificate | None = None
    signing_time: dt.datetime | None = None

    @property
    def valid(self) -> bool:
        return all(c.passed is not False for c in self.checks) and any(c.passed for c in self.checks)

    @property
    def failures(self) -> list[PaCheck]:
        return [c for c in self.checks if c.passed is False]

    @property
    def chain_verified(self) -> bool:
        c = self.check("dsc_chain")
        return bool(c and c.passed)

    def check(self, name: str) -> PaCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.reason}" for c in self.failures)

    def to_dict(self) -> dict:
        return {
            "valid": self.valid,
            "chain_verified": self.chain_verified,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "dsc": self.dsc.subject.rfc4514_string() if self.dsc else None,
            "csca": self.csca.subject.rfc4514_string() if self.csca else None,
            "checks": [c.to_dict() for c in self.checks],
            "failures": [c.to_dict() for c in self.failures],
        }


def _key_problem(e: BaseException) -> str:
    """The ``code`` of an unusable signer key's cause (:mod:`emrtd._ecparams`: explicit EC parameters of no named
    curve, malformed, or a curve ``cryptography`` lacks), or "" when the failure was not the key's."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, EcParametersError):
            return e.code
        e = e.__cause__
    return ""


def _dg_number(name: str) -> int | None:
    name = name.replace("EF_", "").replace("EF.", "")
    if name.upper().startswith("DG") and name[2:].isdigit():
        return int(name[2:])
    return None


def _pick_dsc(sod: Sod, trust: TrustStore, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    """Of the held DSCs the SOD's signer identifier names, one that verifies the SOD's signature and is issued
    by a trusted CSCA; else one that verifies the signature; else the first (its failure is reported)."""
    signs = []
    for c in candidates:
        try:
            sod.verify_signature(c)
        except (SodSignatureError, CertificateLoadError):
            continue
        signs.append(c)
    for c in signs:
        if any(signed_by(c, csca) for csca in trust.issuer_candidates(c)):
            return c
    return (signs or candidates or [None])[0]


def passive_authentication(
    files: dict[str, bytes],
    *,
    trust: TrustStore | None = None,
    dsc: x509.Certificate | None = None,
    at: dt.datetime | None = None,
) -> PassiveAuthResult:
    """Passive Authentication of the files read (``{"EF.SOD": ..., "DG1": ..., ...}``; dump names such as
    ``EF_SOD`` are accepted too). ``dsc`` replaces the DSC embedded in the SOD; ``at`` is the time at
    which certificates must be valid when the SOD carries no signing time (default: now)."""
    res = PassiveAuthResult()
    sod_raw = files.get("EF.SOD", files.get("EF_SOD"))
    if sod_raw is None:
        res.checks.append(PaCheck("sod", False, "EF.SOD was not read"))
        return res
    try:
        sod = Sod.parse(sod_raw)
    except SodError as e:
        res.checks.append(PaCheck("sod", False, f"EF.SOD is malformed: {e}"))
        return res
    res.sod = sod
    res.checks.append(PaCheck("sod", True, f"LDSSecurityObject v{sod.lds.version}, {sod.lds.hash_algorithm}, "
                                           f"DGs {', '.join(str(n) for n in sod.lds.dg_hashes)}"))
    # 2. signature with the DSC
    cert = dsc or sod.dsc
    if cert is None and trust is not None and hasattr(trust, "dscs_for_signer"):  # a PKD DSC the SOD does not carry
        cert = _pick_dsc(sod, trust, trust.dscs_for_signer(sod.signer_info["sid"]))
    res.dsc = cert
    if cert is None:
        res.checks.append(PaCheck("sod_signature", False, "no Document Signer certificate in the SOD and none given"))
    else:
        try:
            sod.verify_signature(cert)
            res.checks.append(PaCheck("sod_signature", True, f"{sod.signature_algorithm} by {cert.subject.rfc4514_string()}"))
        except (SodSignatureError, CertificateLoadError) as e:
            res.checks.append(PaCheck("sod_signature", False, f"SOD signature invalid: {e}", _key_problem(e)))
    # 3. data group hashes
    read = {n: data for name, data in files.items() if (n := _dg_number(name)) is not None}
    for n in sorted(set(read) | set(sod.lds.dg_hashes)):
        name = f"dg_hash:DG{n}"
        if n not in read:
            res.checks.append(PaCheck(name, None, f"DG{n} is in the SOD but was not read"))
        elif n not in sod.lds.dg_hashes:
            res.checks.append(PaCheck(name, False, f"DG{n} was read but the SOD has no hash for it"))
        elif sod.lds.digest(read[n]) != sod.lds.dg_hashes[n]:
            res.checks.append(PaCheck(name, False, f"DG{n} hash mismatch: the data group differs from the signed one"))
        else:
            res.checks.append(PaCheck(name, True, f"{sod.lds.hash_algorithm} matches"))
    if cert is None:
        return res
    # 4. DSC validity at signing time
    signing_time = sod.signing_time
    res.signing_time = signing_time
    now = at or dt.datetime.now(dt.UTC)
    when = signing_time or now
    if signing_time is not None and signing_time > now + dt.timedelta(days=1):
        res.checks.append(PaCheck("dsc_validity", False, f"the SOD claims to be signed on {signing_time:%Y-%m-%d}, "
                                  "in the future"))
    elif not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        res.checks.append(PaCheck("dsc_validity", False, f"the DSC was not valid at {when:%Y-%m-%d %H:%M} "
                                  f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}): expired or not yet valid"))  # fmt: skip
    else:
        res.checks.append(PaCheck("dsc_validity", True, f"valid at {when:%Y-%m-%d %H:%M}"
                                  + ("" if signing_time else " (no signing time in the SOD: checked at inspection)")))
    # 5-6. chain and revocation
    if trust is None:
        res.checks.append(PaCheck("dsc_chain", None, "no trust store given: DSC -> CSCA chain not checked"))
        res.checks.append(PaCheck("dsc_revocation", None, "no trust store given: revocation not checked"))
        return res
    candidates = trust.issuer_candidates(cert)
    csca, why, code = None, f"no trusted CSCA for issuer {cert.issuer.rfc4514_string()} (unknown CSCA)", ""
    for cand in candidates:
        try:
            verify_issued_by(cert, cand)
        except CertificateLoadError as e:  # the CSCA's own key cannot be used (explicit EC parameters of no curve...)
            why, code = f"the key of the trusted CSCA {cand.subject.rfc4514_string()} cannot be used: {e}", _key_problem(e)
            continue
        except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
            why = f"the DSC signature does not verify with the trusted CSCA {cand.subject.rfc4514_string()} (unknown CSCA)"
            continue
        if not cand.not_valid_before_utc <= when <= cand.not_valid_after_utc:
            why = f"the CSCA {cand.subject.rfc4514_string()} was not valid at {when:%Y-%m-%d}"
            continue
        csca = cand
        break
    if csca is None:
        res.checks.append(PaCheck("dsc_chain", False, why, code))
        res.checks.append(PaCheck("dsc_revocation", None, "no trusted issuer: revocation not checked"))
        return res
    res.csca = csca
    res.checks.append(PaCheck("dsc_chain", True, f"issued by the trusted CSCA {csca.subject.rfc4514_string()}"))
    crl = trust.crl_for(csca)
    if crl is None:
        res.checks.append(PaCheck("dsc_revocation", None, "no CRL for this CSCA in the trust store", code="no_crl"))
    else:
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            res.checks.append(PaCheck("dsc_revocation", False, f"the DSC (serial {cert.serial_number:X}) was revoked "
                                      f"on {revoked.revocation_date_utc:%Y-%m-%d}", code="revoked"))
        elif crl.next_update_utc is None:
            res.checks.append(PaCheck("dsc_revocation", None, f"not on the CRL of {crl.last_update_utc:%Y-%m-%d}, but that "
                                      "CRL has no nextUpdate: whether it is current cannot be told", code="no_next_update"))
        elif crl.next_update_utc < (at or dt.datetime.now(dt.UTC)):
            # not a failure of the document: the verifier's CRL is out of date (Part 12 §7.1.3); a named outcome
            # the lane policy handles on its own ("crl_stale"), never a pass
            res.checks.append(PaCheck("dsc_revocation", None, f"not on the CRL of {crl.last_update_utc:%Y-%m-%d}, but that "
                                      f"CRL is out of date (next update was due {crl.next_update_utc:%Y-%m-%d})",
                                      code="stale_crl"))
        else:
            res.checks.append(PaCheck("dsc_revocation", True, f"not on the CRL of {crl.last_update_utc:%Y-%m-%d}",
                                      code="not_revoked"))
    return res

"""Terminal Authentication v1 on the virtual chip (BSI TR-03110 Part 3 Appendix B): a mix-in of
:class:`emrtd.sim.VirtualChip`.

The chip trusts one CVCA certificate (``cvca``) and keeps a current date (``current_date``). After Chip
Authentication it imports the terminal's certificates one by one (MSE:Set DST names the verifying key, PSO:Verify
Certificate checks the signature, the role below its issuer's and the expiry against the chip's date; a verified
CVCA or domestic DV certificate moves the date forward), then checks the terminal's signature over
``ID_PICC || r_PICC || Comp(PK_PCD)`` with the CA session's terminal key. DG3/DG4 open only as far as the
intersection of the CHATs along the chain grants them.
"""

from __future__ import annotations

from emrtd._apdu import CommandApdu, ResponseApdu
from emrtd._cvc import (
    ROLE_CVCA,
    ROLE_DV_DOMESTIC,
    ROLE_IS,
    CvcError,
    CvCertificate,
    CvcFormatError,
    CvcSignatureError,
    check_issued,
    verify_plain,
)
from emrtd._ta import ta_signed_data

__all__ = ["TerminalAuthenticationChip", "EAC_PROTECTED"]

EAC_PROTECTED = {"DG3": 0x01, "DG4": 0x02}  # need Terminal Authentication granting the CHAT bit


def _sw(sw: int, data: bytes = b"") -> ResponseApdu:
    return ResponseApdu(data, sw)


class TerminalAuthenticationChip:
    """The chip's side of TA v1; the host class provides ``cvca``, ``current_date``, ``_sm``, ``_rnd_icc``,
    ``_id_picc`` and ``_access``."""

    def _reset_ta(self) -> None:
        self._ca_terminal = b""  # the terminal's ephemeral CA public key of this session
        self._ta_keys: dict[str, tuple[CvCertificate, int]] = {}  # imported keys: CHR -> (certificate, rights)
        self._ta_dst: str | None = None
        self._ta_at: str | None = None
        self._ta_rights = 0

    def _ta_mse(self, p1p2: int, objs: dict[int, bytes]) -> ResponseApdu:
        if p1p2 == 0x81B6:  # Terminal Authentication: MSE:Set DST, the key to verify the next certificate with
            name = objs.get(0x83, b"").decode("ascii", "replace")
            if not self._ca_terminal or self._sm is None or self._trust_point() is None:
                return _sw(0x6985)
            if name not in self._ta_keys and name != self._trust_point().chr:
                return _sw(0x6A88)  # referenced data (public key) not found
            self._ta_dst = name
            return _sw(0x9000)
        if p1p2 == 0x81A4:  # Terminal Authentication: MSE:Set AT with the IS certificate's CHR
            name = objs.get(0x83, b"").decode("ascii", "replace")
            key = self._ta_keys.get(name)
            if not self._ca_terminal or self._sm is None or key is None or key[0].role != ROLE_IS:
                return _sw(0x6A88)
            self._ta_at = name
            return _sw(0x9000)
        return _sw(0x6A81)

    def _trust_point(self) -> CvCertificate | None:
        if not self.cvca or self.current_date is None:
            return None
        return CvCertificate.parse(self.cvca)

    def _pso_verify_certificate(self, cmd: CommandApdu) -> ResponseApdu:
        trust = self._trust_point()
        if (cmd.p1, cmd.p2) != (0x00, 0xBE):
            return _sw(0x6A86)
        if trust is None or not self._ca_terminal or self._ta_dst is None:
            return _sw(0x6985)
        try:
            cert = CvCertificate.parse_content(cmd.data)
        except CvcFormatError:
            return _sw(0x6A80)
        if self._ta_dst == trust.chr:
            issuer, rights = trust, trust.chat.rights
        else:
            issuer, rights = self._ta_keys[self._ta_dst]
        self._ta_dst = None
        curve = trust.public_key.curve
        try:
            if cert.public_key.curve is not None and cert.public_key.curve != curve:
                return _sw(0x6A80)  # a new domain (CVCA link certificates changing curves) is not simulated
            check_issued(cert, issuer, self.current_date, curve)
        except CvcSignatureError:
            return _sw(0x6300)
        except CvcError:
            return _sw(0x6985)
        self._ta_keys[cert.chr] = (cert, rights & cert.chat.rights)
        if cert.role in (ROLE_CVCA, ROLE_DV_DOMESTIC) and cert.effective > self.current_date:
            self.current_date = cert.effective  # accurate certificates move the chip's date forward
        return _sw(0x9000)

    def _ta_external_authenticate(self, cmd: CommandApdu) -> ResponseApdu:
        name, self._ta_at = self._ta_at, None
        rnd, self._rnd_icc = self._rnd_icc, b""
        cert, rights = self._ta_keys[name]
        trust = self._trust_point()
        if len(rnd) != 8 or trust is None:
            return _sw(0x6985)
        data = ta_signed_data(self._id_picc, rnd, self._ca_terminal)
        if not verify_plain(trust.public_key.curve, cert.public_key.point, cmd.data, data, cert.public_key.hash):
            return _sw(0x6300)
        self._ta_rights = rights
        self._access += "+TA"
        return _sw(0x9000)


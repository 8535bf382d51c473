"""A virtual eMRTD chip: the ISO/IEC 7816-4 commands of ICAO Doc 9303 Part 10 and Part 11.

It answers SELECT (by FID and by AID, Part 10 §3.6), READ BINARY (``B0`` with offsets up to 32767 or
an SFI, and odd ``B1`` with an offset data object, Part 10 §3.6.3), GET CHALLENGE + EXTERNAL
AUTHENTICATE (BAC, Part 11 §4.3), MSE:Set AT + GENERAL AUTHENTICATE (PACE GM/IM, ECDH/DH, Part 11 §4.4),
INTERNAL AUTHENTICATE (AA, §6.1), MSE:Set KAT / Set AT + GENERAL AUTHENTICATE (CA, §6.2) and Terminal
Authentication v1 (BSI TR-03110: MSE:Set DST + PSO:Verify Certificate per CV certificate, MSE:Set AT, GET
CHALLENGE, EXTERNAL AUTHENTICATE over ``ID_PICC || r_PICC || Comp(CA ephemeral key)``), with secure messaging
(§9.8), and refuses what a real chip refuses: an unauthenticated read of a protected
file (6982; DG3 and DG4 only after Terminal Authentication with a chain whose CHATs grant them, checked
against the chip's CVCA trust point and its current date), a wrong MAC or an out-of-step SSC (6988, and the session keys are dropped), a plain command
during secure messaging (the session is closed), unknown instructions (6D00).
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from emrtd._aa import aa_sign
from emrtd._apdu import ApduError, CommandApdu, ResponseApdu
from emrtd._bac import BacKey, derive_bac_keys
from emrtd._ca import ca_session_keys
from emrtd._crypto import (
    KDF_ENC,
    KDF_MAC,
    CryptoError,
    EcCurve,
    SmCipher,
    curve_by_name,
    des3_decrypt,
    des3_encrypt,
    kdf,
    retail_mac,
)
from emrtd._cvc import CvCertificate
from emrtd._lds import FILE_IDS, LDS_AID
from emrtd._pace import (
    CanKey,
    PaceError,
    authentication_token,
    encrypt_nonce,
    gm_map,
    group_for,
    im_map,
    im_nonce_lengths,
    pace_key_pi,
    supported_pace_info,
)
from emrtd._secinfo import ChipAuthenticationInfo, PaceInfo, SecurityInfoError, SecurityInfos, oid_from_bytes
from emrtd._sm import ChipSecureMessaging, SecureMessagingError
from emrtd._ta import EF_CVCA_FID, encode_ef_cvca, id_picc_bac
from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv
from emrtd.sim._chip_ta import EAC_PROTECTED, TerminalAuthenticationChip

__all__ = ["VirtualChip", "InProcessTransport", "make_atr"]


def make_atr(historical: bytes = b"eMRTD-VIRT") -> bytes:
    """An ISO/IEC 7816-3 ATR ``3B 8n 80 01 <historical bytes> TCK`` as contactless readers report it."""
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def _sw(sw: int, data: bytes = b"") -> ResponseApdu:
    return ResponseApdu(data, sw)


@dataclass
class _PaceState:
    info: PaceInfo
    password: bytes
    step: int = 0
    curve: EcCurve | None = None
    nonce: bytes = b""
    mapped: EcCurve | None = None
    sk: int = 0
    pk_ifd: bytes = b""
    pk_icc: bytes = b""
    ks_enc: bytes = b""
    ks_mac: bytes = b""


@dataclass
class VirtualChip(TerminalAuthenticationChip):
    """In-memory chip. ``files`` maps names of :data:`FILE_IDS` to their content.

    ``bac_key`` enables BAC (and the PACE MRZ password); ``can`` the PACE CAN password; PACE is offered
    when ``files`` holds EF.CardAccess. ``aa_key`` and ``ca_key`` are ``cryptography`` private keys
    (they need not match DG15/DG14: that is how a cloned chip is simulated).
    """

    files: dict[str, bytes]
    bac_key: BacKey | None = None
    can: str | None = None
    bac_enabled: bool = True
    aa_key: object | None = None
    aa_signature_algorithm: str | None = None
    ca_key: ec.EllipticCurvePrivateKey | None = None
    ca_key_id: int | None = None
    #: EAC: the CVCA certificate the chip trusts (its trust point) and the chip's current date, which verified
    #: CVCA and domestic DV certificates move forward (TR-03110 Part 3 §A.3); without them DG3/DG4 stay closed
    cvca: bytes | None = None
    current_date: dt.date | None = None
    rng: object = None
    extended_length: bool = True
    atr: bytes = field(default_factory=make_atr)

    def __post_init__(self) -> None:
        self.rng = self.rng or os.urandom
        if self.cvca and "EF.CVCA" not in self.files:  # the CVCA's CAR the chip trusts (TR-03110 Part 3 §A.6.2.1)
            self.files = {**self.files, "EF.CVCA": encode_ef_cvca([CvCertificate.parse(self.cvca).chr])}
        self.apdu_count = 0
        self.reset()

    # --- power and state --------------------------------------------------------------------------
    def reset(self) -> bytes:
        """Power-on / warm reset: MF selected, no session. Returns the ATR."""
        self._app = False
        self._ef: str | None = None
        self._sm: ChipSecureMessaging | None = None
        self._access = ""
        self._rnd_icc = b""
        self._pace: _PaceState | None = None
        self._ca_pending: tuple | None = None
        self._ca_oid: str | None = None
        self._id_picc = b""
        self._reset_ta()
        return self.atr

    @property
    def session(self) -> str:
        """ "", "BAC", "PACE" (plus "+CA")."""
        return self._access

    def _drop_session(self) -> None:
        self._sm = None
        self._access = ""
        self._pace = None
        self._reset_ta()

    # --- APDU entry point -------------------------------------------------------------------------
    def transmit(self, apdu: bytes) -> bytes:
        self.apdu_count += 1
        try:
            cmd = CommandApdu.parse(apdu)
        except ApduError:
            return _sw(0x6700).encode()
        too_long = not self.extended_length and (cmd.needs_extended() or (len(apdu) > 5 and apdu[4] == 0))
        if cmd.cla & 0x0C == 0x0C:
            if self._sm is None:
                return _sw(0x6987).encode()
            sm = self._sm
            try:
                plain = sm.unprotect_command(apdu)
            except SecureMessagingError:
                self._drop_session()  # Part 11 §9.8: abort SM, delete session keys
                return _sw(0x6988).encode()
            # a chip without extended length answers 6700 (still protected, so the SSCs stay in step)
            resp = _sw(0x6700) if too_long else self._dispatch(plain, protected=True)
            out = sm.protect_response(resp, odd_ins=bool(plain.ins & 1))
            if self._ca_pending is not None:
                self._switch_to_ca()
            return out
        if self._sm is not None:
            self._drop_session()  # a plain command ends the secure-messaging session
        if too_long:
            return _sw(0x6700).encode()
        return self._dispatch(cmd, protected=False).encode()

    def _dispatch(self, cmd: CommandApdu, protected: bool) -> ResponseApdu:
        if cmd.cla & ~0x1C & 0xFF:
            return _sw(0x6E00)
        if cmd.cla & 0x10 and cmd.ins != 0x86:
            return _sw(0x6884)  # command chaining not supported here
        handler = {
            0xA4: self._select,
            0xB0: self._read_binary,
            0xB1: self._read_binary,
            0x84: self._get_challenge,
            0x82: self._external_authenticate,
            0x22: self._mse,
            0x86: self._general_authenticate,
            0x88: self._internal_authenticate,
            0x2A: self._pso_verify_certificate,
        }.get(cmd.ins)
        if handler is None:
            return _sw(0x6D00)
        try:
            return handler(cmd)
        except (TlvError, CryptoError, SecurityInfoError, ValueError):
            return _sw(0x6A80)

    # --- files --------------------------------------------------------------------------------------
    def _by_fid(self, fid: int) -> str | None:
        if fid == EF_CVCA_FID and self._app and "EF.CVCA" in self.files:  # in the application 011C is EF.CVCA
            return "EF.CVCA"
        for name, (f, _) in FILE_IDS.items():
            if f == fid and name in self.files:
                if name == "EF.CardAccess" or self._app:
                    return name
        return None

    def _by_sfi(self, sfi: int) -> str | None:
        if sfi == 0x1C and self._app and "EF.CVCA" in self.files:
            return "EF.CVCA"
        for name, (_, s) in FILE_IDS.items():
            if s == sfi and name in self.files and (name == "EF.CardAccess" or self._app):
                return name
        return None

    def _select(self, cmd: CommandApdu) -> ResponseApdu:
        if cmd.p1 == 0x04:  # by DF name
            if cmd.data != LDS_AID:
                return _sw(0x6A82)
            self._app = True
            self._ef = None
            return _sw(0x9000)
        if cmd.p1 in (0x00, 0x02) and len(cmd.data) == 2:
            fid = int.from_bytes(cmd.data, "big")
            if fid == 0x3F00 and cmd.p1 == 0x00:
                self._app, self._ef = False, None
                return _sw(0x9000)
            name = self._by_fid(fid)
            if name is None:
                return _sw(0x6A82)
            self._ef = name
            return _sw(0x9000)
        return _sw(0x6A86)

    def _readable(self, name: str) -> bool:
        if name == "EF.CardAccess":
            return True
        if name in EAC_PROTECTED and not self._ta_rights & EAC_PROTECTED[name]:
            return False
        return bool(self._access) and self._sm is not None

    def _read_binary(self, cmd: CommandApdu) -> ResponseApdu:
        if cmd.ins == 0xB0:
            if cmd.p1 & 0x80:
                name = self._by_sfi(cmd.p1 & 0x1F)
                if name is None:
                    return _sw(0x6A82)
                self._ef = name
                offset = cmd.p2
            else:
                offset = ((cmd.p1 & 0x7F) << 8) | cmd.p2
        else:
            tag, value, end = read_tlv(cmd.data, 0)
            if tag != 0x54 or end != len(cmd.data) or not 1 <= len(value) <= 3:
                return _sw(0x6A80)
            offset = int.from_bytes(value, "big")
            if cmd.p1 or cmd.p2:
                name = self._by_fid((cmd.p1 << 8) | cmd.p2)
                if name is None:
                    return _sw(0x6A82)
                self._ef = name
        if self._ef is None:
            return _sw(0x6986)  # no current EF
        if not self._readable(self._ef):
            return _sw(0x6982)
        content = self.files[self._ef]
        if offset >= len(content):
            return _sw(0x6B00)
        ne = cmd.ne or 256
        if not self.extended_length:
            ne = min(ne, 256)
        chunk = content[offset : offset + ne]
        if cmd.ins == 0xB1:
            chunk = encode_tlv(0x53, chunk)
        return _sw(0x9000 if offset + ne <= len(content) else 0x6282, chunk)

    # --- BAC (Part 11 §4.3) -----------------------------------------------------------------------------
    def _get_challenge(self, cmd: CommandApdu) -> ResponseApdu:
        if cmd.ne != 8:
            return _sw(0x6700)
        self._rnd_icc = self.rng(8)
        return _sw(0x9000, self._rnd_icc)

    def _external_authenticate(self, cmd: CommandApdu) -> ResponseApdu:
        if self._ta_at is not None and self._sm is not None:
            return self._ta_external_authenticate(cmd)
        if self.bac_key is None or not self.bac_enabled:
            return _sw(0x6985)
        if len(self._rnd_icc) != 8 or len(cmd.data) != 40:
            return _sw(0x6985 if len(self._rnd_icc) != 8 else 0x6700)
        k_enc, k_mac = derive_bac_keys(self.bac_key)
        rnd_icc, self._rnd_icc = self._rnd_icc, b""
        e_ifd, m_ifd = cmd.data[:32], cmd.data[32:]
        if not hmac.compare_digest(retail_mac(k_mac, e_ifd), m_ifd):
            return _sw(0x6300)
        s = des3_decrypt(k_enc, e_ifd)
        rnd_ifd, k_ifd = s[:8], s[16:32]
        if s[8:16] != rnd_icc:
            return _sw(0x6300)
        k_icc = self.rng(16)
        e_icc = des3_encrypt(k_enc, rnd_icc + rnd_ifd + k_icc)
        seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
        self._sm = ChipSecureMessaging(
            SmCipher("3DES", kdf(seed, KDF_ENC), kdf(seed, KDF_MAC)), rnd_icc[4:] + rnd_ifd[4:]
        )
        self._access = "BAC"
        self._id_picc = id_picc_bac(self.bac_key.document_number)
        return _sw(0x9000, e_icc + retail_mac(k_mac, e_icc))

    # --- MSE ------------------------------------------------------------------------------------------
    def _mse(self, cmd: CommandApdu) -> ResponseApdu:
        objs = dict(iter_tlv(cmd.data))
        p1p2 = (cmd.p1 << 8) | cmd.p2
        if p1p2 == 0xC1A4:  # PACE, Part 11 §4.4
            if "EF.CardAccess" not in self.files or 0x80 not in objs or 0x83 not in objs:
                return _sw(0x6A80)
            card_access = SecurityInfos.parse(self.files["EF.CardAccess"])
            oid = oid_from_bytes(objs[0x80])
            param = int.from_bytes(objs[0x84], "big") if 0x84 in objs else None
            info = next(
                (
                    i
                    for i in card_access.pace_infos
                    if i.protocol == oid and (param is None or i.parameter_id == param)
                ),
                None,
            )
            if info is None or not supported_pace_info(info):
                return _sw(0x6A80)
            ref = objs[0x83]
            if ref == b"\x01" and self.bac_key is not None:
                password = self.bac_key.pace_password
            elif ref == b"\x02" and self.can is not None:
                password = CanKey(self.can).pace_password
            else:
                return _sw(0x6A88)  # referenced data (password) not found
            self._drop_session()
            self._pace = _PaceState(info, password)
            return _sw(0x9000)
        if p1p2 in (0x41A6, 0x41A4):  # Chip Authentication, Part 11 §6.2.4
            if self.ca_key is None or self._sm is None or "DG14" not in self.files:
                return _sw(0x6985)
            if p1p2 == 0x41A4:
                self._ca_oid = oid_from_bytes(objs[0x80])
                return _sw(0x9000)
            if 0x91 not in objs:
                return _sw(0x6A80)
            return self._ca_agree(objs[0x91], "3DES", 128)
        if p1p2 in (0x81B6, 0x81A4):  # Terminal Authentication: MSE:Set DST / Set AT
            return self._ta_mse(p1p2, objs)
        return _sw(0x6A81)

    # --- GENERAL AUTHENTICATE: PACE steps, or CA with AES ----------------------------------------------
    def _general_authenticate(self, cmd: CommandApdu) -> ResponseApdu:
        tag, value, end = read_tlv(cmd.data, 0)
        if tag != 0x7C or end != len(cmd.data):
            return _sw(0x6A80)
        objs = dict(iter_tlv(value))
        if self._pace is None:
            if self._ca_oid and 0x80 in objs and self._sm is not None:
                oid, self._ca_oid = self._ca_oid, None
                info = ChipAuthenticationInfo(oid)
                resp = self._ca_agree(objs[0x80], info.cipher, info.key_bits)
                return _sw(resp.sw, encode_tlv(0x7C, b"") if resp.sw == 0x9000 else b"")
            return _sw(0x6985)
        st = self._pace
        last = not cmd.cla & 0x10
        try:
            return self._pace_step(st, objs, last)
        except (CryptoError, PaceError):
            self._pace = None
            return _sw(0x6A80)

    def _pace_step(self, st: _PaceState, objs: dict[int, bytes], last: bool) -> ResponseApdu:
        info = st.info
        if st.step == 0 and not objs and not last:
            st.curve = group_for(info)
            if info.mapping == "IM":
                st.nonce = self.rng(im_nonce_lengths(info)[0])
            else:
                st.nonce = self.rng(8 if info.cipher == "3DES" else 16)
            st.step = 1
            return _sw(
                0x9000,
                encode_tlv(
                    0x7C, encode_tlv(0x80, encrypt_nonce(pace_key_pi(st.password, info), st.nonce, info))
                ),
            )
        if st.step == 1 and 0x81 in objs and not last and info.mapping == "IM":
            st.mapped = im_map(st.curve, st.nonce, objs[0x81], info)  # Part 11 §4.4.3.3.2
            st.step = 2
            return _sw(0x9000, encode_tlv(0x7C, encode_tlv(0x82, b"")))
        if st.step == 1 and 0x81 in objs and not last:
            curve = st.curve
            pk_ifd = curve.decode_point(objs[0x81])
            sk = curve.random_scalar(self.rng)
            mine = curve.encode_point(curve.mul(sk, curve.g))
            st.mapped = gm_map(curve, st.nonce, curve.mul(sk, pk_ifd))
            st.step = 2
            return _sw(0x9000, encode_tlv(0x7C, encode_tlv(0x82, mine)))
        if st.step == 2 and 0x83 in objs and not last:
            mapped = st.mapped
            pk_ifd = mapped.decode_point(objs[0x83])
            st.sk = mapped.random_scalar(self.rng)
            st.pk_icc = mapped.encode_point(mapped.mul(st.sk, mapped.g))
            if st.pk_icc == objs[0x83]:
                raise CryptoError("terminal reused the chip's key")
            st.pk_ifd = objs[0x83]
            shared = mapped.x_bytes(mapped.mul(st.sk, pk_ifd))
            st.ks_enc = kdf(shared, KDF_ENC, info.cipher, info.key_bits)
            st.ks_mac = kdf(shared, KDF_MAC, info.cipher, info.key_bits)
            st.step = 3
            return _sw(0x9000, encode_tlv(0x7C, encode_tlv(0x84, st.pk_icc)))
        if st.step == 3 and 0x85 in objs and last:
            self._pace = None
            if not hmac.compare_digest(objs[0x85], authentication_token(st.ks_mac, info, st.pk_icc)):
                return _sw(0x6300)
            token = authentication_token(st.ks_mac, info, st.pk_ifd)
            self._sm = ChipSecureMessaging(SmCipher(info.cipher, st.ks_enc, st.ks_mac), 0)
            self._access = "PACE"
            self._id_picc = st.pk_icc[1 : 1 + (len(st.pk_icc) - 1) // 2]  # Comp(chip's ephemeral PACE key)
            return _sw(0x9000, encode_tlv(0x7C, encode_tlv(0x86, token)))
        self._pace = None
        return _sw(0x6985)

    # --- Chip Authentication ---------------------------------------------------------------------------
    def _ca_agree(self, terminal_point: bytes, cipher: str, key_bits: int) -> ResponseApdu:
        key = self.ca_key
        curve = curve_by_name(key.curve.name)
        pk = curve.decode_point(terminal_point)
        shared = curve.x_bytes(curve.mul(key.private_numbers().private_value, pk))
        self._ca_pending = (cipher, key_bits, shared, bytes(terminal_point))
        return _sw(0x9000)

    def _switch_to_ca(self) -> None:
        cipher, key_bits, shared, terminal_point = self._ca_pending
        self._ca_pending = None
        self._sm = ChipSecureMessaging(ca_session_keys(shared, cipher, key_bits), 0)
        self._access += "+CA"
        self._reset_ta()
        self._ca_terminal = terminal_point

    # --- Active Authentication (Part 11 §6.1) -------------------------------------------------------
    def _internal_authenticate(self, cmd: CommandApdu) -> ResponseApdu:
        if self.aa_key is None:
            return _sw(0x6D00)
        if not self._access or self._sm is None:
            return _sw(0x6982)
        if len(cmd.data) != 8:
            return _sw(0x6700)
        return _sw(
            0x9000,
            aa_sign(self.aa_key, cmd.data, signature_algorithm=self.aa_signature_algorithm, rng=self.rng),
        )


@dataclass
class InProcessTransport:
    """Direct calls into an in-process chip (anything with ``transmit(bytes) -> bytes``)."""

    chip: object
    keep_log: bool = False
    apdu_count: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    log: list[tuple[bytes, bytes]] = field(default_factory=list)

    def transmit(self, apdu: bytes) -> bytes:
        resp = self.chip.transmit(bytes(apdu))
        self.apdu_count += 1
        self.bytes_sent += len(apdu)
        self.bytes_received += len(resp)
        if self.keep_log:
            self.log.append((bytes(apdu), bytes(resp)))
        return resp

"""Reading an eMRTD: access control, files, chip and passive authentication (ICAO Doc 9303 Part 10/11).

:func:`read_document` follows the inspection order of Part 11 §4.2 / §5:

1. read EF.CardAccess (Part 10 §3.11.2); when it offers a PACE suite we support, run PACE (§4.4),
   otherwise (or if PACE fails and an MRZ key is available) select the LDS1 application and run BAC (§4.3);
2. read EF.COM and EF.SOD (Part 10 §4.6), then every data group either lists (EF.COM is not signed: a
   clone can drop a DG from it, the SOD still hashes it; a DG the chip refuses lands in ``unreadable``),
   each by SELECT + READ BINARY under secure messaging: the first 4 bytes give the TLV length, the rest is
   read in chunks (odd-INS ``B1`` beyond offset 32767);
3. Chip Authentication with the DG14 key (Part 11 §6.2), before the remaining data groups are read;
3b. Terminal Authentication v1 (BSI TR-03110, :mod:`emrtd._ta`) right after a successful CA when the caller
   hands in ``terminal`` credentials (IS key and CV certificate chain): the chip then serves DG3 (fingerprints)
   and DG4 (iris) as far as the chain's CHATs grant them. Reported as ``terminal_authentication``: passed,
   failed (the chip refused a certificate or the signature, named) or not performed (no credentials, no
   DG3/DG4 on the chip, CA not successful); a refused DG3/DG4 lands in ``unreadable`` with the reason;
4. Active Authentication with the DG15 key (Part 11 §6.1). A DG14 or DG15 the SOD lists but the chip
   refuses fails its protocol's check (a clone hides the files whose private keys it lacks);
5. Passive Authentication (Part 11 §5.1, :mod:`emrtd._pa`) against ``trust``: SOD signature, every DG hash,
   DSC validity at signing time, DSC -> CSCA chain and CRL. A chip that serves no EF.SOD fails PA, with or
   without a trust store. Otherwise, without a trust store the check is reported as not performed (a forged
   chip can carry its own DSC), with any failure PA found in its reason;
6. the data groups read are parsed (:mod:`emrtd._lds`, :mod:`emrtd._dg2`): ``mrz``, ``face_image``.

Every check ends in the result with its outcome and reason; only failed access control raises.
"""

from __future__ import annotations

import os

from emrtd._aa import perform_active_authentication
from emrtd._apdu import ApduError, CommandApdu, ResponseApdu, StatusWordError, WrongLength
from emrtd._bac import BacError, BacKey, perform_bac
from emrtd._ca import CaResult, perform_chip_authentication
from emrtd._lds import FILE_IDS, LDS_AID, LdsError, parse_lds_file
from emrtd._mrz import Mrz
from emrtd._pace import CanKey, PaceError, choose_pace_info, perform_pace
from emrtd._result import Check, ReadResult, dg_name, file_name_on_disk, parse_sod_or_none
from emrtd._secinfo import SecurityInfoError, SecurityInfos
from emrtd._sm import SecureMessagingError
from emrtd._ta import (
    EF_CVCA_FID,
    TaResult,
    TerminalCredentials,
    choose_credentials,
    id_picc_bac,
    id_picc_pace,
    parse_ef_cvca,
    perform_terminal_authentication,
)
from emrtd._tlv import TlvError, iter_tlv, read_length, read_tag, read_tlv

__all__ = [
    "ReadError",
    "AccessControlError",
    "FileReadError",
    "Check",
    "ReadResult",
    "read_document",
    "DG_TAGS",
    "file_name_on_disk",
]

DG_TAGS = {
    0x61: "DG1", 0x75: "DG2", 0x63: "DG3", 0x76: "DG4", 0x65: "DG5", 0x66: "DG6", 0x67: "DG7",
    0x68: "DG8", 0x69: "DG9", 0x6A: "DG10", 0x6B: "DG11", 0x6C: "DG12", 0x6D: "DG13", 0x6E: "DG14",
    0x6F: "DG15", 0x70: "DG16",
}  # fmt: skip
SHORT_MAX_READ = 0xDF  # largest chunk whose protected response fits a short APDU (223 bytes)
EXTENDED_MAX_READ = 0xFF00


class ReadError(Exception):
    """Reading the document failed; ``reason`` names the step."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class AccessControlError(ReadError):
    """Neither PACE nor BAC succeeded with the given access key."""


class FileReadError(ReadError):
    """A file could not be read (refused, absent, or malformed TLV)."""


class _Channel:
    """Sends plain commands, protected when a secure-messaging session is up."""

    def __init__(self, transport, max_read: int) -> None:
        self.transport = transport
        self.sm = None
        self.max_read = max_read
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:  # used by BAC/PACE, which speak plain APDUs
        self.count += 1
        return self.transport.transmit(apdu)

    def send(self, cmd: CommandApdu) -> ResponseApdu:
        self.count += 1
        if self.sm is None:
            try:
                return ResponseApdu.parse(self.transport.transmit(cmd.encode()))
            except ApduError as e:
                raise ReadError("transport", f"malformed response: {e}") from e
        return self.sm.unprotect(self.transport.transmit(self.sm.protect(cmd)))

    def select_file(self, fid: int) -> None:
        self.send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))).check()

    def read_binary(self, offset: int, length: int) -> bytes:
        if offset <= 0x7FFF:
            resp = self.send(CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, ne=length))
            if resp.sw != 0x6282:
                resp.check()
            return resp.data
        # odd INS (ISO/IEC 7816-4 §11.2.3): offset in DO'54', data in DO'53'
        off = offset.to_bytes(2 if offset <= 0xFFFF else 3, "big")
        resp = self.send(CommandApdu(0x00, 0xB1, 0x00, 0x00, b"\x54" + bytes([len(off)]) + off, ne=length))
        if resp.sw != 0x6282:
            resp.check()
        try:
            tag, value, _ = read_tlv(resp.data, 0)
        except TlvError as e:
            raise FileReadError("malformed", f"odd-INS READ BINARY answer is not a DO'53': {e}") from e
        if tag != 0x53:
            raise FileReadError("malformed", f"odd-INS READ BINARY answer has tag {tag:X}, 53 expected")
        return value

    def read_file(self, fid: int) -> bytes:
        """SELECT + READ BINARY of a whole TLV-structured EF (Part 10 §3.6)."""
        self.select_file(fid)
        head = self.read_binary(0, 4)
        try:
            _, off = read_tag(head, 0)
            if off < len(head) and head[off] > 0x82:  # long length forms need more header bytes
                head += self.read_binary(len(head), 2)
            length, off = read_length(head, off)
        except TlvError as e:
            raise FileReadError("malformed", f"file {fid:04X} does not start with a TLV header: {e}") from e
        total = off + length
        data = bytearray(head[:total])
        while len(data) < total:
            try:
                chunk = self.read_binary(len(data), min(self.max_read, total - len(data)))
            except WrongLength:
                if self.max_read <= SHORT_MAX_READ:
                    raise
                self.max_read = SHORT_MAX_READ  # the chip has no extended length: fall back to short APDUs
                continue
            if not chunk:
                raise FileReadError("truncated", f"file {fid:04X} ended at {len(data)} of {total} bytes")
            data += chunk
        return bytes(data[:total])


def _read_card_access(ch: _Channel) -> SecurityInfos | None:
    try:
        return SecurityInfos.parse(ch.read_file(FILE_IDS["EF.CardAccess"][0]))
    except (StatusWordError, ReadError, SecurityInfoError, TlvError):
        return None


def _establish(ch: _Channel, key, rng, card_access: SecurityInfos | None, prefer_pace: bool):
    """PACE when offered, else BAC (Part 11 §4.2); returns ``(access result, pace fallback reason)``."""
    fallback = ""
    if prefer_pace and card_access is not None and choose_pace_info(card_access) is not None:
        try:
            result = perform_pace(ch, key, card_access, rng=rng)
            ch.sm = result.sm
            ch.send(CommandApdu(0x00, 0xA4, 0x04, 0x0C, LDS_AID)).check()
            return result, ""
        except (PaceError, StatusWordError, SecureMessagingError) as e:
            if not isinstance(key, BacKey):
                raise AccessControlError("pace", f"PACE failed: {e}") from e
            fallback = f"PACE failed ({e}); fell back to BAC"
            ch.sm = None
    elif card_access is not None:
        fallback = "EF.CardAccess offers no supported PACE suite"
    if not isinstance(key, BacKey):
        raise AccessControlError("bac", "the chip offers no PACE and BAC needs the MRZ, not a CAN")
    try:
        ch.send(CommandApdu(0x00, 0xA4, 0x04, 0x0C, LDS_AID)).check()
        result = perform_bac(ch, key, rng=rng)
    except (BacError, StatusWordError) as e:
        before = f" (after: {fallback})" if fallback else ""
        raise AccessControlError("bac", f"BAC failed: {e}{before}") from e
    ch.sm = result.sm
    return result, fallback


def _read_named(ch: _Channel, name: str, res: ReadResult) -> bytes | None:
    try:
        res.files[name] = ch.read_file(FILE_IDS[name][0])
        return res.files[name]
    except StatusWordError as e:
        res.unreadable[name] = str(e)
    except FileReadError as e:
        res.unreadable[name] = str(e)
    return None


def _dg1_fields(dg1: bytes) -> tuple[str, str, str] | None:
    """(document number, date of birth, date of expiry) from DG1's MRZ (Part 10 §4.7.1, Part 4-6 layouts)."""
    try:
        _, value, _ = read_tlv(dg1, 0)
        mrz = dict(iter_tlv(value))[0x5F1F].decode("ascii")
    except (TlvError, KeyError, UnicodeDecodeError):
        return None
    if len(mrz) == 88:  # TD3
        doc, dob, doe = mrz[44:53], mrz[57:63], mrz[65:71]
        if mrz[53] == "<":
            doc += mrz[72:86].split("<")[0][:-1]
    elif len(mrz) == 90:  # TD1
        doc, dob, doe = mrz[5:14], mrz[30:36], mrz[38:44]
        if mrz[14] == "<":  # long document number continues in the optional data
            doc += mrz[15:30].split("<")[0][:-1]
    elif len(mrz) == 72:  # TD2
        doc, dob, doe = mrz[36:45], mrz[49:55], mrz[57:63]
    else:
        return None
    return doc.rstrip("<"), dob, doe


def _mrz_check(key, dg1: bytes | None, parsed: Mrz | None = None) -> Check:
    if not isinstance(key, BacKey):
        return Check("mrz_consistency", None, "access with CAN: no MRZ to compare")
    if dg1 is None:
        return Check("mrz_consistency", None, "DG1 not read")
    if parsed is not None:
        fields = (parsed.document_number, parsed.date_of_birth_mrz, parsed.date_of_expiry_mrz)
    else:
        fields = _dg1_fields(dg1)
    if fields is None:
        return Check("mrz_consistency", False, "DG1 does not hold a TD1/TD2/TD3 MRZ")
    expected = (key.document_number.rstrip("<"), key.date_of_birth, key.date_of_expiry)
    names = ("document_number", "date_of_birth", "date_of_expiry")
    bad = [n for n, a, b in zip(names, fields, expected, strict=True) if a != b]
    if bad:
        return Check("mrz_consistency", False, "DG1 MRZ differs from the MRZ used for access: " + ", ".join(bad))
    return Check("mrz_consistency", True)


def _passive_authentication(res: ReadResult, trust, sod_asked: bool):
    """Passive Authentication (Part 11 §5.1) of the files read; see :func:`emrtd._pa.passive_authentication`.

    A chip that does not serve EF.SOD fails (with or without a trust store): nothing it says can be verified.
    Only when the caller did not ask for EF.SOD (``files``) is PA reported as not performed."""
    from emrtd._pa import passive_authentication
    from emrtd._trust import TrustStore

    if isinstance(trust, list | tuple):
        trust = TrustStore(trust)
    if "EF.SOD" not in res.files and not sod_asked:
        return None, Check("passive_authentication", None, "EF.SOD was not among the files asked for: not performed")
    result = passive_authentication(res.files, trust=trust)
    if "EF.SOD" not in res.files:
        why = res.unreadable.get("EF.SOD", "not read")
        return result, Check("passive_authentication", False,
                             f"EF.SOD could not be read ({why}): no data group can be verified")
    reason = result.reason
    if trust is None:
        found = f"; found: {reason}" if reason else "; SOD signature and data group hashes verify"
        return result, Check("passive_authentication", None, "no trust store: DSC -> CSCA chain not verified" + found)
    return result, Check("passive_authentication", result.valid, reason)


def _com_data_groups(com: bytes | None) -> list[str]:
    """The data groups EF.COM lists in its tag list (Part 10 §4.6.1), in its order."""
    if com is None:
        return []
    try:
        tags = dict(iter_tlv(read_tlv(com, 0)[1])).get(0x5C, b"")
    except TlvError:
        tags = b""
    return [DG_TAGS[t] for t in tags if t in DG_TAGS]


def _hidden_protocol_checks(res: ReadResult, chip_authentication: bool, active_authentication: bool) -> None:
    """A DG14 or DG15 the SOD lists but the chip refuses: a clone without the chip's private keys hides them,
    so the protocol they announce fails rather than being skipped (Part 11 §5.1, §6.1, §6.2)."""
    listed = res.sod_data_groups
    for dg, name, wanted in (("DG14", "chip_authentication", chip_authentication),
                             ("DG15", "active_authentication", active_authentication)):
        if wanted and dg in listed and dg in res.unreadable and res.check(name) is None:
            res.checks.append(Check(name, False, f"{dg} is listed in the SOD but the chip does not serve it "
                                                 f"({res.unreadable[dg]}): {name.replace('_', ' ')} not possible"))


def _parse_files(res: ReadResult) -> None:
    for name, data in res.files.items():
        if name in ("EF.CardAccess", "EF.SOD"):
            continue
        try:
            res.data_groups[name] = parse_lds_file(name, data)
        except (LdsError, ValueError) as e:
            res.parse_errors[name] = str(e)


def read_document(
    transport,
    access_key: BacKey | CanKey,
    *,
    trust=None,
    rng=None,
    files: list[str] | tuple[str, ...] | None = None,
    extended_length: bool = False,
    max_read: int | None = None,
    prefer_pace: bool = True,
    chip_authentication: bool = True,
    active_authentication: bool = True,
    passive_authentication: bool = True,
    terminal=None,
) -> ReadResult:
    """Read a document over ``transport`` (``transmit(bytes) -> bytes``), see the module docstring.

    ``files`` limits the EFs read (names such as ``"EF.COM"``, ``"DG1"``), in that order (DG14 first);
    None reads EF.COM, EF.SOD, then every data group either lists (DG14 first). ``rng(n)`` supplies every
    terminal random (nonces, ephemeral keys), so ICAO worked examples can be replayed. ``trust`` is a
    :class:`emrtd.TrustStore` (or a list of CSCA certificates) for Passive Authentication; without it PA is
    reported as not performed, unless the chip served no EF.SOD: then PA fails (when ``files`` leaves
    EF.SOD out, PA is not performed). The result carries the parsed files (``data_groups``, ``mrz``,
    ``face_image``) and what the SOD lists (``sod_data_groups``, ``data_group_verified``,
    ``chip_authentication_offered``, ``active_authentication_offered``). ``terminal`` is a
    :class:`emrtd.TerminalCredentials` (or a sequence of them: chains under several states' CVCAs, EF.CVCA picks
    one) for Terminal Authentication (EAC: DG3, DG4). Raises
    :class:`AccessControlError` when PACE and BAC fail.
    """
    rng = rng or os.urandom
    ch = _Channel(transport, max_read or (EXTENDED_MAX_READ if extended_length else SHORT_MAX_READ))
    card_access = _read_card_access(ch)
    access, fallback = _establish(ch, access_key, rng, card_access, prefer_pace)
    res = ReadResult(access, pace_fallback_reason=fallback)
    if card_access is not None:
        res.files["EF.CardAccess"] = card_access.encode()
    res.checks.append(Check("access_control", True, fallback))
    try:
        if files is None:
            # EF.COM is not signed: the data groups to read are those it lists and those the SOD hashes
            # (Part 11 §5.1), so a chip hiding a DG from EF.COM is still asked for it.
            com_dgs = _com_data_groups(_read_named(ch, "EF.COM", res))
            sod = parse_sod_or_none(_read_named(ch, "EF.SOD", res))
            sod_dgs = [dg_name(n) for n in sorted(sod.lds.dg_hashes)] if sod is not None else []
            order = list(dict.fromkeys(com_dgs + sod_dgs))
        else:
            if "EF.COM" in files:
                _read_named(ch, "EF.COM", res)
            order = [n for n in files if n != "EF.COM" and n in FILE_IDS]
        # Chip Authentication first (Part 11 §6.2), so the rest travels under the CA session keys.
        if "DG14" in order:
            dg14 = _read_named(ch, "DG14", res)
            if dg14 is not None and chip_authentication:
                _chip_authentication(ch, res, dg14, access_key, rng, card_access, prefer_pace)
            order.remove("DG14")
        _terminal_authentication(ch, res, access_key, order, terminal)
        for name in order:
            _read_named(ch, name, res)
        _explain_eac_refusals(res)
        if active_authentication and "DG15" in res.files:
            sig_alg = None
            if "DG14" in res.files:
                try:
                    aai = SecurityInfos.parse_dg14(res.files["DG14"]).active_authentication_info
                    sig_alg = aai.signature_algorithm if aai else None
                except SecurityInfoError:
                    pass
            res.active_authentication = perform_active_authentication(ch, res.files["DG15"], signature_algorithm=sig_alg, rng=rng)
            aa = res.active_authentication
            res.checks.append(Check("active_authentication", aa.succeeded, aa.reason, aa.code))
    except SecureMessagingError as e:
        raise ReadError("secure_messaging", f"secure messaging failed while reading: {e}") from e
    _hidden_protocol_checks(res, chip_authentication, active_authentication)
    _parse_files(res)
    res.checks.append(_mrz_check(access_key, res.files.get("DG1"), res.mrz))
    if passive_authentication:
        res.passive_authentication, check = _passive_authentication(res, trust, files is None or "EF.SOD" in files)
        res.checks.append(check)
    res.apdu_count = ch.count
    return res


def _chip_authentication(ch, res, dg14, key, rng, card_access, prefer_pace) -> None:
    try:
        infos = SecurityInfos.parse_dg14(dg14)
    except SecurityInfoError as e:
        res.chip_authentication = CaResult(False, reason=f"DG14 unusable: {e}")
    else:
        if not infos.chip_authentication_public_keys:
            return
        res.chip_authentication = perform_chip_authentication(ch, infos, rng=rng)
    ca = res.chip_authentication
    res.checks.append(Check("chip_authentication", ca.succeeded, ca.reason, ca.code))
    if ca.succeeded is False:
        # The session is gone (the chip dropped its keys): authenticate again to keep reading.
        ch.sm = None
        res.access, _ = _establish(ch, key, rng, card_access, prefer_pace)


def _terminal_authentication(ch, res, key, order, terminal) -> None:
    """TA v1 after CA (TR-03110), when the chip holds DG3/DG4 or the caller brought credentials. ``terminal``: one
    :class:`TerminalCredentials` or several (chains under several states' CVCAs): EF.CVCA names the CVCAs the chip
    trusts and picks the chain; none for them is TA *not performed* (``no_terminal_chain_for_cvca``), not failed."""
    eac_files = [n for n in ("DG3", "DG4") if n in order]
    if not eac_files and terminal is None:
        return
    ca, chains = res.chip_authentication, [terminal] if isinstance(terminal, TerminalCredentials) else terminal
    if not chains:
        ta = TaResult(False, reason="no terminal credentials (IS key and CV certificate chain): "
                                    f"{' and '.join(eac_files)} stay closed", code="no_terminal_credentials")
    elif not eac_files:
        ta = TaResult(False, reason="the chip lists neither DG3 nor DG4: nothing behind Extended Access Control",
                      code="no_eac_data_groups")
    else:
        ta = _ta_with_chain(ch, res, key, list(chains), ca)
    res.terminal_authentication = ta
    res.checks.append(Check("terminal_authentication", ta.succeeded if ta.performed else None, ta.reason, ta.code))


def _ta_with_chain(ch, res, key, chains, ca) -> TaResult:
    try:  # DG14 says whether the chip supports TA (TerminalAuthenticationInfo) and where EF.CVCA is
        tai = SecurityInfos.parse_dg14(res.files.get("DG14", b"")).terminal_authentication_info
        fid = (tai.ef_cvca_fid if tai is not None else None) or EF_CVCA_FID
    except SecurityInfoError as e:
        return TaResult(False, reason=f"DG14 unusable for Terminal Authentication: {e}", code="ta_not_offered")
    if tai is None or tai.version != 1:
        return TaResult(False, reason="DG14 offers no Terminal Authentication version 1 (TerminalAuthenticationInfo)"
                        + (f": version {tai.version}" if tai is not None else ""), code="ta_not_offered")
    try:
        ch.select_file(fid)
        points = parse_ef_cvca(ch.read_binary(0, 36))
    except (StatusWordError, FileReadError, ValueError) as e:  # no usable EF.CVCA: the first chain, the chip decides
        points, chosen, note = (), chains[0], f" (EF.CVCA unusable: {e})"
    else:
        chosen, note = choose_credentials(chains, points), ""
    if chosen is None:
        return TaResult(False, reason=f"no terminal certificate chain for the chip's CVCA {' / '.join(points)}",
                        code="no_terminal_chain_for_cvca", trust_points=points)
    if ca is None or not ca.succeeded:
        return TaResult(False, reason="Chip Authentication did not succeed: Terminal Authentication v1 needs its "
                                      "session", code="chip_authentication_not_succeeded", trust_points=points)
    try:
        id_picc = (id_picc_pace(res.access.chip_public_key) if res.access.protocol == "PACE"
                   else id_picc_bac(key.document_number))
    except (ValueError, AttributeError) as e:
        return TaResult(False, reason=f"no chip identifier for Terminal Authentication: {e}",
                        code="no_chip_identifier", trust_points=points)
    ta = perform_terminal_authentication(ch, chosen, id_picc=id_picc, ca_ephemeral_public_key=ca.ephemeral_public_key)
    ta.trust_points, ta.reason = points, ta.reason + note
    return ta


def _explain_eac_refusals(res) -> None:
    """A DG3/DG4 the chip refused: say whether Terminal Authentication was missing or did not grant it."""
    ta = res.terminal_authentication
    for name in ("DG3", "DG4"):
        if name not in res.unreadable or ta is None:
            continue
        if ta.succeeded and name not in ta.data_groups:
            why = f"the terminal's certificate chain does not grant {name} (its CHATs grant: " \
                  f"{', '.join(ta.data_groups) or 'nothing'})"
        elif ta.performed and not ta.succeeded:
            why = f"Terminal Authentication failed: {ta.reason}"
        elif not ta.performed:
            why = f"Terminal Authentication not performed: {ta.reason}"
        else:
            continue
        res.unreadable[name] = f"{res.unreadable[name]}; {why}"

"""LDIF (RFC 2849) as the ICAO PKD writes it: read, written, round-tripped; bad input gets named errors."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emrtd import LdifEntry, LdifError, LdifSyntaxError, LdifUnsupported, dump_ldif, parse_ldif
from emrtd._ldif import dn_components, escape_dn_value

DER = bytes(range(256)) * 3
B64 = base64.b64encode(DER).decode()
FOLDED = "\n ".join(B64[i:i + 60] for i in range(0, len(B64), 60))

PKD = f"""version: 1

# a comment that is
 folded
dn: cn=OU\\=Identity Services Passport CA\\,O\\=Government\\,C\\=NZ+sn=42,o=dsc,c=NZ,dc=data,dc=download,dc=pkd,dc=icao,dc=int
pkdVersion: 1150
objectClass: inetOrgPerson
objectClass: pkdDownload
userCertificate;binary:: {FOLDED}

dn: cn=CN\\=CSCA\\,C\\=DE,o=crl,c=DE,dc=data,dc=download,dc=pkd,dc=icao,dc=int
changetype: add
certificateRevocationList;binary::{B64[:40]}
pkdConformanceText: WARN:CRL.ISS.11
"""


def test_pkd_records_are_read_with_folding_comments_and_options():
    entries = parse_ldif(PKD.encode())
    assert len(entries) == 2
    dsc, crl = entries
    assert dsc.values("usercertificate") == [DER] and dsc.values("userCertificate;binary") == [DER]
    assert dsc.values("objectClass") == [b"inetOrgPerson", b"pkdDownload"]
    assert dict(dn_components(dsc.dn))["o"] == "dsc" and dict(dn_components(dsc.dn))["c"] == "NZ"
    assert dn_components(dsc.dn)[0] == ("cn", "OU=Identity Services Passport CA,O=Government,C=NZ")
    assert dn_components(dsc.dn)[1] == ("sn", "42")
    assert crl.values("certificateRevocationList") == [base64.b64decode(B64[:40])]  # no space after '::'
    assert crl.values("changetype") == []  # an add record is content
    assert crl.line == PKD.split("\n").index(next(x for x in PKD.split("\n") if "o=crl" in x)) + 1


def test_crlf_and_a_byte_order_mark_are_read():
    text = "\ufeff" + PKD.replace("\n", "\r\n")
    assert parse_ldif(text.encode()) == parse_ldif(PKD.encode())


def test_written_ldif_reads_back_the_same_entries_and_is_folded():
    entries = parse_ldif(PKD.encode())
    out = dump_ldif(entries)
    assert out.startswith(b"version: 1\n\n")
    assert max(len(line) for line in out.split(b"\n")) <= 76
    again = parse_ldif(out)
    assert [(e.dn, e.attributes) for e in again] == [(e.dn, e.attributes) for e in entries]
    assert dump_ldif(again) == out  # byte for byte


def test_values_that_are_not_safe_strings_are_written_in_base64():
    e = LdifEntry("cn=Nguyễn,o=dsc,c=VN", (("cn", "Nguyễn".encode()), ("description", b" leading space"),
                                             ("x", b":colon"), ("y", b"<lt"), ("z", b"ok value")))
    out = dump_ldif([e]).decode()
    assert "dn:: " in out and "cn:: " in out and "description:: " in out and "x:: " in out and "y:: " in out
    assert "z: ok value" in out
    assert parse_ldif(out)[0].attributes == e.attributes and parse_ldif(out)[0].dn == e.dn


@pytest.mark.parametrize("text, error, match", [
    (" continued\n", LdifSyntaxError, "continues nothing"),
    ("dn: cn=a\nuserCertificate;binary:: !!!!\n", LdifSyntaxError, "bad base64"),
    ("dn: cn=a\nuserCertificate:< file:///etc/passwd\n", LdifUnsupported, "URL"),
    ("dn: cn=a\nchangetype: delete\n", LdifUnsupported, "delete"),
    ("dn: cn=a\nchangetype: modify\nreplace: cn\ncn: b\n", LdifUnsupported, "modify"),
    ("dn: cn=a\ncn: b\nchangetype: add\n", LdifSyntaxError, "must follow the dn"),
    ("cn: a\n", LdifSyntaxError, "starts with 'dn:'"),
    ("dn: cn=a\n", LdifSyntaxError, "no attributes"),
    ("dn: cn=a\nno colon here\n", LdifSyntaxError, "no ':'"),
    ("dn: cn=a\nbad attr!: x\n", LdifSyntaxError, "not an attribute description"),
    ("dn: cn=a\ncn: Nguyễn\n", LdifSyntaxError, "must be base64"),
    ("version: 2\n\ndn: cn=a\ncn: a\n", LdifUnsupported, "version"),
    ("dn: cn=a\ncn: a\ndn: cn=b\ncn: b\n", LdifSyntaxError, "second 'dn:'"),
    ("dn: cn=a\ncn: a\x00b\n", LdifSyntaxError, "SAFE-STRING.*NUL"),
    ("dn: cn=a\ncn: a\rb\n", LdifSyntaxError, "SAFE-STRING"),
    ("dn: cn=a\ncn: :a\n", LdifSyntaxError, "SAFE-STRING: an initial ':'"),
    ("dn: cn=a\x00\ncn: a\n", LdifSyntaxError, "SAFE-STRING"),
])
def test_bad_ldif_is_refused_with_a_named_error(text, error, match):
    with pytest.raises(error, match=match) as e:
        parse_ldif(text.encode())
    assert isinstance(e.value, LdifError) and isinstance(e.value, ValueError)


def test_not_utf8_and_truncated_input():
    with pytest.raises(LdifSyntaxError, match="UTF-8"):
        parse_ldif(b"dn: cn=a\ncn: \xff\xfe\n")
    truncated = PKD.encode()[: PKD.index("userCertificate") + 40]  # cut inside the base64
    with pytest.raises(LdifSyntaxError, match="base64"):
        parse_ldif(truncated)
    assert parse_ldif(b"") == [] and parse_ldif(b"version: 1\n") == []


def test_dn_escaping_round_trips():
    for value in ("CN=CSCA,O=Gov+x,C=DE", "#hash", 'q"uote<>;\\', "Nguyễn"):
        dn = f"cn={escape_dn_value(value)}+sn=1,o=dsc,c=DE"
        assert dn_components(dn) == [("cn", value), ("sn", "1"), ("o", "dsc"), ("c", "DE")]
    assert dn_components("cn=a\\2Cb,o=ml") == [("cn", "a,b"), ("o", "ml")]


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,12}(;binary)?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.lists(st.tuples(_names, st.binary(max_size=300)),
                                                                    min_size=1, max_size=6)), max_size=5))
def test_any_entries_round_trip(raw):
    entries = [LdifEntry(dn, tuple(attrs)) for dn, attrs in raw if "\x00" not in dn and dn.strip() == dn]
    back = parse_ldif(dump_ldif(entries))
    assert [(e.dn, e.attributes) for e in back] == [(e.dn, e.attributes) for e in entries]

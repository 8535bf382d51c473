"""Watchlist entries as data: the columns of each kind, validation into the domain entries
(:func:`entry_from_data`), the stored form (:func:`clean`) and the public views of stored rows.
Split from ``backoffice._watchlist`` (the service: storage, feed, import, matching)."""

from __future__ import annotations

import datetime as dt
import json
import re

from backoffice._errors import Forbidden
from watchlist import DocumentEntry, PersonEntry, WatchlistError

__all__ = ["CONTROL", "DOCUMENT_COLUMNS", "ENTRY_ID", "PERSON_COLUMNS", "clean", "entry_from_data", "pending_public",
           "public", "refuse_import_under_four_eyes"]

PERSON_COLUMNS = ("id", "name", "aliases", "name_hanzi", "name_pinyin", "date_of_birth", "nationality", "reason",
                  "source", "expires_on")
DOCUMENT_COLUMNS = ("id", "document_number", "issuing_state", "document_type", "reason", "source", "expires_on")
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_STATE = re.compile(r"^[A-Z]{3}$|^D$")
#: what a name never holds (the API's rule, backoffice.schemas._CONTROL): C0, DEL, C1, bidi overrides, separators
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def entry_from_data(entry_id: str, kind: str, data: dict) -> PersonEntry | DocumentEntry:
    """Build (and so validate) the domain entry; raises :class:`watchlist.WatchlistError`."""
    if kind == "document":
        state = (data.get("issuing_state") or "").strip().upper() or None
        if state and not _STATE.match(state):
            raise WatchlistError(f"issuing_state must be an ICAO 3-letter code, not {state!r}")
        return DocumentEntry(entry_id, data.get("document_number") or "", state,
                             data.get("document_type") or None, data.get("reason") or "stolen",
                             expires_on=data.get("expires_on") or None)
    if kind == "person":
        nat = (data.get("nationality") or "").strip().upper() or None
        if nat and not _STATE.match(nat):
            raise WatchlistError(f"nationality must be an ICAO 3-letter code, not {nat!r}")
        names = tuple(n for n in [data.get("name") or "", *(data.get("aliases") or [])] if n.strip())
        return PersonEntry(entry_id, names, data.get("name_hanzi") or None, data.get("name_pinyin") or None,
                           data.get("date_of_birth") or None, nat, data.get("reason") or "",
                           expires_on=data.get("expires_on") or None)
    raise WatchlistError(f"unknown watchlist kind {kind!r}")


def clean(kind: str, data: dict) -> dict:
    keys = PERSON_COLUMNS if kind == "person" else DOCUMENT_COLUMNS
    out = {k: data.get(k) for k in keys if k != "id" and data.get(k) not in (None, "", [])}
    if kind == "document" and "document_number" in out:
        out["document_number"] = entry_from_data("x", kind, out).document_number
    for k in ("issuing_state", "nationality"):
        if k in out:
            out[k] = out[k].strip().upper()
    if "expires_on" in out:
        out["expires_on"] = str(out["expires_on"])
    return out


def refuse_import_under_four_eyes(four_eyes: bool, dry_run: bool) -> None:
    """A CSV import writes many entries at once (and replaces those whose ``id`` it names): under four-eyes it
    would pass the second supervisor by. It is refused (403); a dry run, which changes nothing, is allowed.
    An operator imports on the host (``smartborder backoffice import-watchlist``) or turns four-eyes off."""
    if four_eyes and not dry_run:
        raise Forbidden("four-eyes is on: a CSV import would change the watchlist without a second supervisor; "
                        "run a dry run here, then import on the host (smartborder backoffice import-watchlist)")



def public(row: dict) -> dict:
    data = json.loads(row["data"])
    expires = data.get("expires_on")
    return {"id": row["id"], "kind": row["kind"], "version": row["version"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], **data, "active": not row["deleted"],
            "expired": bool(expires) and expires < dt.date.today().isoformat(),
            "deactivated": json.loads(row["deactivated"]) if row.get("deactivated") else None}


def pending_public(row: dict) -> dict:
    return {**row, "data": json.loads(row["data"]) if row["data"] else None}

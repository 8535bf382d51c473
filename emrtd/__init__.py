"""emrtd: ICAO Doc 9303 travel documents and their chips, as a standalone library.

No screen, no network, no hardware: protocols take a narrow transport (``transmit(apdu) -> bytes``)
and return result objects.
"""

# --- document data, passive authentication, PKI (owner: data/PA work) ---
from emrtd._tlv import Tlv, TlvError, encode_tlv, iter_tlv, parse_tlv

__all__ = [
    "Tlv",
    "TlvError",
    "encode_tlv",
    "iter_tlv",
    "parse_tlv",
]

# --- chip protocols, virtual chip, reader, issuer (owner: protocol work) ---

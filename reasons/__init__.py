"""Reason codes in words: one catalogue the back office and the kiosk (and the gate) all read.

Pure: imports no other project package, only the standard library, so ``backoffice`` and ``kiosk``
(which may not import each other) can both use it.

- :data:`CODES`: every reason code the system emits (the gate policy's, the back office's exception
  reasons, the enrolment workflow's referral reasons, the chip fraud codes).
- :func:`describe` (code, lang): a short phrase for a border guard, in "vi", "en" or "zh".
- :func:`traveller_text` (code, lang): what a referred traveller is told, polite and never accusatory,
  with where to go.
- :func:`severity` (code): 0 watchlist hit, 1 suspected fraud, 2 identity doubt, 3 anything else.
- :func:`explain` (message, lang): the gate's explanation line in words.

An unknown code never raises (its words are the code with spaces), an unknown language gets English.
"""

from reasons._catalogue import CODES, LANGUAGES, describe, severity, traveller_text
from reasons._explain import explain

__all__ = ["CODES", "LANGUAGES", "describe", "traveller_text", "severity", "explain"]

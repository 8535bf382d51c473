"""The consent notice's retention sentence, from the retention policies the back office's purge enforces.

One source: the kiosk does not write its own "how long". The enrolment stores an enrolment record (the
document data) and templates (face, fingerprints); :func:`consent_notice` states their rules with
:meth:`privacy.RetentionPolicy.describe` in each language (once when they share a rule, else one labelled
sentence per category). The notice's ``text_version`` is derived from every consent text shown, the
sentence included, so the version a consent records changes whenever the text does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk._i18n import LANGUAGES, Catalogues, catalogues

__all__ = ["ENROLMENT_CATEGORIES", "ConsentNotice", "ConsentNoticeError", "consent_notice"]

#: the retention categories an enrolment stores (privacy.DEFAULT_POLICIES' names; the back office's
#: enrolment_record, and face_template / finger_template renamed from template)
ENROLMENT_CATEGORIES = ("enrolment_record", "template")


class ConsentNoticeError(ValueError):
    """The consent notice cannot state how long the data are kept (a category has no policy)."""


@dataclass(frozen=True)
class ConsentNotice:
    """``retention``: language -> the retention sentence shown; ``text_version``: recorded with the consent."""

    retention: Mapping[str, str]
    text_version: str

    def retention_text(self, lang: str) -> str:
        return self.retention.get(lang) or self.retention["en"]


def consent_notice(policies: Mapping[str, Any] | None = None, texts: Catalogues | None = None) -> ConsentNotice:
    """The notice for ``policies`` (category -> :class:`privacy.RetentionPolicy`; default
    :data:`privacy.DEFAULT_POLICIES`). Fails (:class:`ConsentNoticeError`) when a category the enrolment
    stores has no policy: the kiosk does not ask for consent without saying how long the data are kept."""
    if policies is None:
        from privacy import DEFAULT_POLICIES

        policies = DEFAULT_POLICIES
    texts = texts or catalogues()
    missing = [c for c in ENROLMENT_CATEGORIES if c not in policies]
    if missing:
        raise ConsentNoticeError(f"no retention policy for {', '.join(missing)}: the consent text cannot say how "
                                 "long the enrolment is kept")
    rules = [policies[c] for c in ENROLMENT_CATEGORIES]
    retention = {}
    for lang in LANGUAGES:
        if all(p.rule == rules[0].rule for p in rules):
            retention[lang] = rules[0].describe(lang)
        else:
            sep = "" if lang == "zh" else " "
            colon = "：" if lang == "zh" else ": "
            retention[lang] = sep.join(f"{texts.t(f'consent.category.{c}', lang)}{colon}{p.describe(lang)}"
                                       for c, p in zip(ENROLMENT_CATEGORIES, rules, strict=True))
    shown = {lang: {**{k: v for k, v in texts.texts[lang].items() if k.startswith("consent.")},
                    "retention": retention[lang]} for lang in LANGUAGES}
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
    base = texts.text_version("en") or "notice"
    return ConsentNotice(retention, f"{base}-{digest}")

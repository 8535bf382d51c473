"""Declarative retention policies per data category, with defaults modelled on the EU Entry/Exit
System (Regulation (EU) 2017/2226, Art. 34 retention and Art. 46 logs) and GDPR Art. 5(1)(e), and
classified under Vietnam's Decree 13/2023/ND-CP on personal data protection.

A policy says from which *anchor* an item's retention period runs and for how long:

- ``created``: the item was captured/registered;
- ``ended``: the border transaction it belongs to ended;
- ``resolved``: the exception (or watchlist hit) was resolved;
- ``last_exit``: the data subject's last recorded exit;
- ``period_end``: the end of the retention period of the record an audit entry is about.

An item *held* by an open exception (``held_by``) is never due; once that exception is resolved
it is due ``held_keep`` after the resolution. When the anchor is unknown the ``fallback`` applies
(e.g. an enrolment whose holder never exited: 5 years from enrolment).

The rule is also stated in words, from the same fields the purge computes with:
:meth:`RetentionPolicy.describe` (``describe()``: the compact rule of the retention report;
``describe("vi" | "zh" | "en")`` = :meth:`RetentionPolicy.rule_text`: a sentence for the data subject,
e.g. the kiosk's consent notice). :attr:`RetentionPolicy.basis` cites the law each rule follows:
``reference`` (the EU model: EES / GDPR) and ``vn_reference`` (Decree 13/2023/ND-CP: basic personal
data, Art. 2(3), or sensitive personal data, Art. 2(4)(đ): a person's physical attributes and
biological characteristics).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

from privacy._errors import RetentionError

__all__ = ["ANCHORS", "DEFAULT_POLICIES", "LANGUAGES", "Period", "RetentionPolicy"]

ANCHORS = ("created", "ended", "resolved", "last_exit", "period_end")
#: the languages a rule can be stated in (the kiosk's: Vietnamese, Chinese, English)
LANGUAGES = ("vi", "zh", "en")


@dataclass(frozen=True)
class Period:
    """A legal period: calendar years (29 February + 1 year = 28 February) plus days and hours."""

    years: int = 0
    days: int = 0
    hours: int = 0

    def after(self, t: dt.datetime) -> dt.datetime:
        if self.years:
            try:
                t = t.replace(year=t.year + self.years)
            except ValueError:  # 29 February in a non-leap year
                t = t.replace(year=t.year + self.years, day=28)
        return t + dt.timedelta(days=self.days, hours=self.hours)

    def before(self, t: dt.datetime) -> dt.datetime:
        """The latest anchor time whose period has run out at ``t`` (the inverse of :meth:`after`)."""
        t = t - dt.timedelta(days=self.days, hours=self.hours)
        if self.years:
            try:
                t = t.replace(year=t.year - self.years)
            except ValueError:
                t = t.replace(year=t.year - self.years, day=28)
        return t

    @property
    def zero(self) -> bool:
        return not (self.years or self.days or self.hours)

    def __str__(self) -> str:
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                 ((self.years, "year"), (self.days, "day"), (self.hours, "hour")) if n]
        return " ".join(parts) or "0 days"

    def words(self, language: str) -> str:
        """The period in ``language`` ("3 years", "3 năm", "3年")."""
        units = _UNITS[_language(language)]
        parts = []
        for n, unit in ((self.years, "year"), (self.days, "day"), (self.hours, "hour")):
            if n:
                one, many = units[unit]
                parts.append((one if n == 1 else many).format(n=n))
        return units["join"].join(parts)


# -- the rule in words -------------------------------------------------------------------------
# Each anchor as the event the period runs from, and as the condition "that event is not recorded"
# (the fallback's). Sentences are assembled from these and the periods: no period is written out here.
_UNITS = {
    "en": {"year": ("{n} year", "{n} years"), "day": ("{n} day", "{n} days"), "hour": ("{n} hour", "{n} hours"),
           "join": " and "},
    "vi": {"year": ("{n} năm", "{n} năm"), "day": ("{n} ngày", "{n} ngày"), "hour": ("{n} giờ", "{n} giờ"),
           "join": " "},
    "zh": {"year": ("{n}年", "{n}年"), "day": ("{n}天", "{n}天"), "hour": ("{n}小时", "{n}小时"), "join": ""},
}
_EVENTS = {
    "en": {"created": "collection", "ended": "the end of the border crossing it belongs to",
           "resolved": "the resolution of the case it belongs to", "last_exit": "your last recorded exit",
           "period_end": "the end of the retention period of the record it concerns"},
    "vi": {"created": "khi thu thập", "ended": "khi kết thúc lượt qua cửa khẩu liên quan",
           "resolved": "khi trường hợp liên quan được giải quyết",
           "last_exit": "lần xuất cảnh cuối cùng được ghi nhận của bạn",
           "period_end": "khi hết thời hạn lưu giữ của hồ sơ liên quan"},
    "zh": {"created": "采集之日", "ended": "相关通关结束之日", "resolved": "相关个案处理完毕之日",
           "last_exit": "您最后一次有记录的出境之日", "period_end": "相关记录的保存期限届满之日"},
}
_UNKNOWN = {
    "en": {"created": "if the date of collection is not known", "ended": "if the end of the crossing is not recorded",
           "resolved": "if the case is not resolved", "last_exit": "if no exit is recorded",
           "period_end": "if that period is not known"},
    "vi": {"created": "nếu không xác định được ngày thu thập",
           "ended": "nếu không ghi nhận được thời điểm kết thúc lượt qua cửa khẩu",
           "resolved": "nếu trường hợp chưa được giải quyết", "last_exit": "nếu không có lần xuất cảnh nào được ghi nhận",
           "period_end": "nếu không xác định được thời hạn đó"},
    "zh": {"created": "如采集日期无法确定", "ended": "如未记录通关结束", "resolved": "如个案尚未处理完毕",
           "last_exit": "如无出境记录", "period_end": "如该期限无法确定"},
}


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise RetentionError(f"no wording of the retention rules in {language!r} (one of {', '.join(LANGUAGES)})")
    return language


def _keep(language: str, period: Period, anchor: str) -> str:
    """"kept for <period> after <event>" ("kept until <event>" for a zero period), lower case."""
    event = _EVENTS[language][anchor]
    if language == "en":
        return f"kept until {event}" if period.zero else f"kept for {period.words('en')} after {event}"
    if language == "vi":
        return f"lưu giữ đến {event}" if period.zero else f"lưu giữ {period.words('vi')} kể từ {event}"
    return f"保存至{event}" if period.zero else f"自{event}起保存{period.words('zh')}"


def _held(language: str, period: Period) -> str:
    if language == "en":
        tail = f", then for {period.words('en')}" if not period.zero else ""
        return f"While a case concerning it is open, it is kept until the case is resolved{tail}."
    if language == "vi":
        tail = f", sau đó thêm {period.words('vi')}" if not period.zero else ""
        return f"Khi có trường hợp liên quan đang được xử lý, dữ liệu được lưu giữ đến khi giải quyết xong{tail}."
    tail = f"后{period.words('zh')}" if not period.zero else ""
    return f"如有相关个案尚未处理完毕，保存至个案处理完毕{tail}。"


@dataclass(frozen=True)
class RetentionPolicy:
    category: str
    anchor: str
    keep: Period
    fallback_anchor: str | None = None
    fallback_keep: Period | None = None
    held_keep: Period | None = None
    #: the EU model's provision the rule follows (EES Art. 34 / 46, GDPR Art. 5(1)(e)) or the project's own rule
    reference: str = ""
    #: Vietnam, Decree 13/2023/ND-CP on personal data protection: the class of the data the category holds
    vn_reference: str = ""

    def __post_init__(self) -> None:
        for a in (self.anchor, self.fallback_anchor):
            if a is not None and a not in ANCHORS:
                raise RetentionError(f"unknown retention anchor {a!r} (one of {', '.join(ANCHORS)})")
        if (self.fallback_anchor is None) != (self.fallback_keep is None):
            raise RetentionError("fallback_anchor and fallback_keep go together")

    def due_at(self, anchors: Mapping[str, dt.datetime | None], *, held: bool = False) -> dt.datetime | None:
        """When an item with these anchor times must be gone (None: not yet determined)."""
        if held:
            resolved = anchors.get("resolved")
            return None if resolved is None else (self.held_keep or Period()).after(resolved)
        t = anchors.get(self.anchor)
        if t is not None:
            return self.keep.after(t)
        if self.fallback_anchor is not None and anchors.get(self.fallback_anchor) is not None:
            return self.fallback_keep.after(anchors[self.fallback_anchor])
        return None

    def renamed(self, category: str) -> RetentionPolicy:
        """The same rule for another category name (a caller's own vocabulary)."""
        return replace(self, category=category)

    @property
    def rule(self) -> tuple:
        """The fields the purge computes with (two policies with the same rule read the same)."""
        return (self.anchor, self.keep, self.fallback_anchor, self.fallback_keep, self.held_keep)

    def describe(self, language: str | None = None) -> str:
        """The rule in words. Without ``language``: the compact form of the retention report ("3 years after
        last exit (else 5 years after created)"). With ``language`` ("vi", "zh" or "en"): a sentence for the
        data subject (:meth:`rule_text`), made from the same fields :meth:`due_at` uses."""
        if language is not None:
            return self.rule_text(language)
        text = f"{self.keep} after {self.anchor.replace('_', ' ')}"
        if self.fallback_anchor:
            text += f" (else {self.fallback_keep} after {self.fallback_anchor.replace('_', ' ')})"
        if self.held_keep is not None:
            text += f"; held by an exception: {self.held_keep} after its resolution"
        return text

    def rule_text(self, language: str = "en") -> str:
        """The rule as a sentence in Vietnamese, Chinese or English, e.g. "Kept for 3 years after your last
        recorded exit; if no exit is recorded, kept for 5 years after collection." (RetentionError for
        another language)."""
        lang = _language(language)
        main = _keep(lang, self.keep, self.anchor)
        if self.fallback_anchor is not None:
            cond = _UNKNOWN[lang][self.anchor]  # the fallback applies when the anchor is not known
            other = _keep(lang, self.fallback_keep, self.fallback_anchor)
            main += {"en": f"; {cond}, {other}", "vi": f"; {cond}, {other}", "zh": f"；{cond}，{other}"}[lang]
        text = main[0].upper() + main[1:] + ("。" if lang == "zh" else ".")
        if self.held_keep is not None:
            text += ("" if lang == "zh" else " ") + _held(lang, self.held_keep)
        return text

    @property
    def basis(self) -> str:
        """The legal basis of the rule, as text: the EU model's provision, then Vietnam's (Decree 13/2023)."""
        return "; ".join(b for b in self.legal_bases if b)

    @property
    def legal_bases(self) -> tuple[str, ...]:
        """Each instrument's citation on its own: (``reference``, ``vn_reference``), empty ones left out."""
        return tuple(b for b in (self.reference, self.vn_reference) if b)


_EES34 = "Reg. (EU) 2017/2226 Art. 34"
_D13 = "Decree 13/2023/ND-CP"
_VN_IMAGE = (f"{_D13} Art. 2(3)(e): a person's image, basic personal data; compared biometrically, "
             f"Art. 2(4)(đ): physical attributes and biological characteristics, sensitive personal data")
_VN_BIOMETRIC = f"{_D13} Art. 2(4)(đ): physical attributes and biological characteristics, sensitive personal data"
_VN_DOCUMENT = (f"{_D13} Art. 2(3): names (a), date of birth (b), nationality (đ) and passport number (g), "
                f"basic personal data")
DEFAULT_POLICIES: dict[str, RetentionPolicy] = {p.category: p for p in (
    # live captures serve the transaction only (GDPR Art. 5(1)(c,e)); a gate that never reports the end
    # of a transaction cannot keep them past a day
    RetentionPolicy("live_image", "ended", Period(), "created", Period(days=1), held_keep=Period(days=30),
                    reference="GDPR Art. 5(1)(e); EES stores no live image outside the individual file",
                    vn_reference=_VN_IMAGE),
    RetentionPolicy("chip_image", "ended", Period(), "created", Period(days=1), held_keep=Period(days=30),
                    reference="GDPR Art. 5(1)(e); the chip photo is read for the comparison only",
                    vn_reference=_VN_IMAGE),
    RetentionPolicy("template", "last_exit", Period(years=3), "created", Period(years=5),
                    reference=f"{_EES34}(1) and (3): 3 years after the last exit, 5 without an exit record",
                    vn_reference=_VN_BIOMETRIC),
    RetentionPolicy("enrolment_record", "last_exit", Period(years=3), "created", Period(years=5),
                    reference=f"{_EES34}(1) and (3): 3 years after the last exit, 5 without an exit record",
                    vn_reference=f"{_VN_DOCUMENT}; the record of an enrolment of biometric templates "
                                 f"(Art. 2(4)(đ), sensitive)"),
    RetentionPolicy("gate_transaction", "ended", Period(years=3), "created", Period(years=3),
                    reference=f"{_EES34}(1): entry/exit records 3 years", vn_reference=_VN_DOCUMENT),
    RetentionPolicy("exception", "resolved", Period(days=30),
                    reference="project rule: 30 days after resolution, for review and complaints",
                    vn_reference=f"{_VN_DOCUMENT}; with the case's images and biometric results, Art. 2(4)(đ), "
                                 f"sensitive"),
    RetentionPolicy("watchlist_hit", "resolved", Period(days=30),
                    reference="project rule: as exceptions; a confirmed hit moves to a case file elsewhere",
                    vn_reference=_VN_DOCUMENT),
    RetentionPolicy("audit_entry", "period_end", Period(years=1), "created", Period(years=6),
                    reference="Reg. (EU) 2017/2226 Art. 46(2): logs 1 year after the record's retention period",
                    vn_reference=f"{_D13} Art. 2(1) and (2): information that, combined with other data, "
                                 f"identifies a person (the data subject's identifier and the access recorded)"),
)}

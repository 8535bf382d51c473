"""The gate's explanation strings in words.

The gate's decision policy (``gate._policy.Decision.explain``) writes one line per transaction:

    open: all 17 required checks passed (not required: liveness)
    refer: face_mismatch (face score 0.788 below threshold 0.933); evidence_missing (not obtained: ...)

and the gate workflow may append `` [liveness: <why the challenge failed>]``. Each finding is a reason
code and the ``detail`` of the failed check, one of the fixed phrases below. :func:`explain` renders the
codes with :func:`describe` and, in Vietnamese, the details with the patterns below; a detail it does not
know stays as it is, and a message it does not recognise at all is returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reasons._catalogue import CODES, describe

__all__ = ["explain"]

_NUM = r"(-?\d+(?:\.\d+)?)"


def _vi_num(text: str) -> str:
    """Vietnamese writes a decimal comma: 0.788 -> 0,788."""
    return re.sub(r"(?<=\d)\.(?=\d)", ",", text)


def _vi_date(iso: str) -> str:
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso)
    return f"{m[3]}/{m[2]}/{m[1]}" if m else iso


# the names of the gate's checks (gate._policy.RULES), as a guard reads them
_RULES = {
    "timeout": {"en": "step time limits", "vi": "thời hạn các bước"},
    "hardware_fault": {"en": "devices and engines", "vi": "thiết bị và phần mềm xử lý"},
    "document_unreadable": {"en": "document data", "vi": "dữ liệu giấy tờ"},
    "eligible_document": {"en": "document type", "vi": "loại giấy tờ"},
    "document_expired": {"en": "document validity", "vi": "hạn giấy tờ"},
    "minor": {"en": "age", "vi": "tuổi"},
    "chip_read": {"en": "chip reading", "vi": "đọc chip"},
    "passive_authentication": {"en": "passive authentication", "vi": "xác thực thụ động"},
    "data_groups": {"en": "chip data groups", "vi": "các nhóm dữ liệu của chip"},
    "chip_authenticity": {"en": "chip authenticity (AA/CA)", "vi": "tính xác thực của chip (AA/CA)"},
    "mrz_matches_chip": {"en": "printed MRZ against the chip", "vi": "đối chiếu MRZ in với chip"},
    "face_acquired": {"en": "face capture", "vi": "chụp khuôn mặt"},
    "liveness": {"en": "liveness", "vi": "kiểm tra người thật"},
    "face_match": {"en": "face match", "vi": "so khớp khuôn mặt"},
    "fingerprint_match": {"en": "fingerprint match", "vi": "so khớp vân tay"},
    "watchlist": {"en": "watchlist check", "vi": "kiểm tra danh sách theo dõi"},
    "watchlist_fresh": {"en": "watchlist freshness", "vi": "độ mới của danh sách theo dõi"},
    "single_person": {"en": "one person in the lane", "vi": "một người trong làn"},
}

# the gate's steps (gate._workflow.GateState, and the lane sensor) as "step X timed out / failed" name them
_STEPS_VI = {
    "document": "giấy tờ", "chip": "chip", "face": "khuôn mặt", "finger": "vân tay", "watchlist": "danh sách theo dõi",
    "decide": "quyết định", "lane_sensor": "cảm biến làn",
}


def _step_vi(step: str) -> str:
    return _STEPS_VI.get(step, step)


# the parts the passive-authentication and chip-authenticity details are made of
_PARTS_VI = {
    "passive authentication": "xác thực thụ động",
    "DSC -> CSCA chain": "chuỗi DSC -> CSCA",
    "DSC revocation status": "tình trạng thu hồi DSC",
    "DSC revoked": "DSC đã bị thu hồi",
    "active authentication": "xác thực chủ động",
    "chip authentication": "xác thực chip",
}


# why a chip's AA/CA key cannot be used (emrtd's codes)
_KEY_CODES_VI = {
    "ec_parameters_unknown_curve": "tham số EC tường minh không trùng đường cong chuẩn nào",
    "ec_parameters_malformed": "tham số EC sai cấu trúc",
    "ec_curve_unsupported": "đường cong EC không được hỗ trợ",
    "aa_algorithm_unsupported": "thuật toán chữ ký AA không được hỗ trợ",
    "aa_key_unsupported": "loại khóa AA không được hỗ trợ",
    "aa_key_malformed": "khóa AA sai cấu trúc",
}


def _parts_vi(text: str) -> str:
    """``a and b`` / ``a, b`` of known parts, in Vietnamese; unknown parts stay as they are."""
    out = []
    for chunk in re.split(r"(, | and )", text):
        out.append({", ": ", ", " and ": " và "}.get(chunk) or _PARTS_VI.get(chunk, chunk))
    return "".join(out)


def _rule(name: str, lang: str) -> str:
    return _RULES.get(name, {}).get(lang, name)


def _not_obtained(items: str, lang: str) -> str:
    """``rule: detail; rule: detail`` with the rules' names in words (and, in Vietnamese, the details)."""
    # a detail may itself hold "; " (a watchlist error), so split only before a rule's name
    names = "|".join(re.escape(n) for n in _RULES)
    parts = re.split(rf"; (?=(?:{names}): )", items)
    out = []
    for part in parts:
        name, sep, detail = part.partition(": ")
        if sep and name in _RULES:
            out.append(f"{_rule(name, lang)}: {_detail(detail, lang) or detail}")
        else:
            out.append(_detail(part, lang) or part)
    return "; ".join(out)


_Render = str | Callable[[re.Match], str]

#: (pattern matching a whole detail, its Vietnamese); templates name the groups as {1}, {2}
_DETAILS_VI: tuple[tuple[re.Pattern, _Render], ...] = tuple((re.compile(p), r) for p, r in (
    (rf"face score {_NUM} below threshold {_NUM}", "điểm khuôn mặt {1} dưới ngưỡng {2}"),
    (rf"fingerprint score {_NUM} below threshold {_NUM}", "điểm vân tay {1} dưới ngưỡng {2}"),
    (rf"{_NUM} >= {_NUM}", "{1} >= {2}"),
    (r"step (\S+) timed out", lambda m: f"bước {_step_vi(m[1])} quá thời gian"),
    (r"step (\S+) failed \(device or engine fault\)",
     lambda m: f"bước {_step_vi(m[1])} thất bại (lỗi thiết bị hoặc phần mềm xử lý)"),
    (r"no document data", "không có dữ liệu giấy tờ"),
    (r"no MRZ or document data", "không có MRZ hay dữ liệu giấy tờ"),
    (r"document type unknown", "không rõ loại giấy tờ"),
    (r"document type (\S+) is not accepted at e-gates", "loại giấy tờ {1} không được dùng tại cổng tự động"),
    (r"date of expiry unknown", "không rõ ngày hết hạn"),
    (r"expired on (\d{4}-\d{2}-\d{2})", lambda m: f"hết hạn ngày {_vi_date(m[1])}"),
    (r"date of birth unknown", "không rõ ngày sinh"),
    (r"under (\d+)", "dưới {1} tuổi"),
    (r"chip not read", "chưa đọc được chip"),
    (r"chip could not be read", "không đọc được chip"),
    (r"chip not read: passive authentication not performed", "chưa đọc được chip: chưa thực hiện xác thực thụ động"),
    (r"passive authentication failed: (.+)", lambda m: f"xác thực thụ động thất bại: {_parts_vi(m[1])}"),
    (r"the CSCA's CRL is out of date: DSC revocation status not current",
     "CRL của CSCA đã quá hạn: chưa có tình trạng thu hồi DSC hiện hành"),
    (r"(.+) not verified: the chip's key cannot be used \((.+)\)",
     lambda m: f"chưa xác minh được {_parts_vi(m[1])}: không dùng được khóa của chip "
               f"({', '.join(_KEY_CODES_VI.get(c, c) for c in m[2].split(', '))})"),
    (r"(.+) not verified", lambda m: f"chưa xác minh {_parts_vi(m[1])}"),
    (r"(.+) differ from the signed hashes", "{1} khác giá trị băm đã ký"),
    (r"(.+) not read and verified against the SOD", "chưa đọc và đối chiếu {1} với SOD"),
    (r"chip authenticity not required on this lane", "làn này không yêu cầu kiểm tra tính xác thực của chip"),
    (r"(.+) listed in the SOD but not served \(a clone hides them\)",
     lambda m: f"{_parts_vi(m[1])} có trong SOD nhưng chip không cung cấp (chip sao chép thường giấu chúng)"),
    (r"(.+) offered by the chip but not performed",
     lambda m: f"chip hỗ trợ {_parts_vi(m[1])} nhưng chưa được thực hiện"),
    (r"the chip offers neither active nor chip authentication",
     "chip không hỗ trợ xác thực chủ động lẫn xác thực chip"),
    (r"((?:active|chip) authentication(?: and (?:active|chip) authentication)?) failed",
     lambda m: f"{_parts_vi(m[1])} thất bại"),
    (r"printed MRZ not compared with DG1", "chưa đối chiếu MRZ in với DG1"),
    (r"printed MRZ differs from chip DG1", "MRZ in khác DG1 của chip"),
    (r"printed MRZ differs from chip DG1 in (.+)", "MRZ in khác DG1 của chip ở các trường {1}"),
    (r"no chip photo to compare with", "không có ảnh trong chip để so sánh"),
    (r"no chip photo \(DG2 not read\)", "không có ảnh trong chip (chưa đọc DG2)"),
    (r"no usable face capture", "không chụp được ảnh khuôn mặt dùng được"),
    (r"no liveness check on this lane", "làn này không kiểm tra người thật"),
    (r"presentation attack suspected", "nghi giả mạo khuôn mặt (tấn công trình diễn)"),
    (r"liveness not checked", "chưa kiểm tra người thật"),
    (r"no face score", "không có điểm khuôn mặt"),
    (r"face step gave no outcome", "bước khuôn mặt không cho kết quả"),
    (r"fingerprint step gave no outcome", "bước vân tay không cho kết quả"),
    (r"fingerprints not required on this lane", "làn này không yêu cầu vân tay"),
    (r"no fingerprints enrolled", "chưa đăng ký vân tay"),
    (r"the fingerprint check could not be made \(back office unreachable\)",
     "không kiểm tra được vân tay (không kết nối được hệ thống trung tâm)"),
    (r"fingerprint enrolment status unknown", "không rõ tình trạng đăng ký vân tay"),
    (r"enrolled fingerprints could not be verified", "không xác minh được vân tay đã đăng ký"),
    (r"watchlist not checked", "chưa kiểm tra danh sách theo dõi"),
    (r"no local watchlist copy", "không có bản sao danh sách theo dõi tại chỗ"),
    (r"watchlist copy age (.+) s cannot be trusted \(clock stepped back\?\)",
     "tuổi bản sao danh sách theo dõi {1} giây không đáng tin (đồng hồ bị lùi?)"),
    (rf"watchlist copy is {_NUM} h old \(limit {_NUM} h\)",
     "bản sao danh sách theo dõi đã cũ {1} giờ (giới hạn {2} giờ)"),
    (r"nobody counted in the lane \(no lane sensor reading, no face seen\)",
     "không đếm được ai trong làn (cảm biến làn không có số đo, không thấy khuôn mặt)"),
    (r"(\d+) persons in the lane", "{1} người trong làn"),
    (r"not obtained: (.+)", lambda m: "chưa thu được: " + _not_obtained(m[1], "vi")),
))


def _detail_vi(detail: str) -> str | None:
    """The Vietnamese of one check's detail, None when the detail is not one of the gate's phrases."""
    for pattern, render in _DETAILS_VI:
        m = pattern.fullmatch(detail)
        if m is None:
            continue
        if callable(render):
            return _vi_num(render(m))
        return _vi_num(render.format(m[0], *(g or "" for g in m.groups())))
    return None


def _detail(detail: str, lang: str) -> str | None:
    """One check's detail in ``lang`` (English: the gate's own words, only the check names made readable)."""
    if lang == "vi":
        return _detail_vi(detail)
    m = re.fullmatch(r"not obtained: (.+)", detail, re.S)
    return "not obtained: " + _not_obtained(m[1], lang) if m else None


_PREFIX = {
    "refer": {"en": "Referred: ", "vi": "Chuyển kiểm tra thủ công: "},
    "open": {"en": "Opened: ", "vi": "Mở cổng: "},
}
_FINDING = re.compile(r"(?P<code>[a-z_]+) \((?P<detail>.*)\)", re.S)
_SPLIT = re.compile(r"; (?=(?:{}) \()".format("|".join(re.escape(c) for c in sorted(CODES, key=len, reverse=True))))
_OPEN = re.compile(r"all (\d+) required checks passed(?: \(not required: (.+)\))?")
_SUFFIX = re.compile(r"(?P<body>.*?) \[liveness: (?P<why>[^\]]*)\]", re.S)


def _open_body(body: str, lang: str) -> str | None:
    m = _OPEN.fullmatch(body)
    if m is None:
        return None
    relaxed = ", ".join(_rule(n, lang) for n in m[2].split(", ")) if m[2] else ""
    if lang == "vi":
        text = f"đạt cả {m[1]} bước kiểm tra bắt buộc" + (f" (không bắt buộc: {relaxed})" if relaxed else "")
    else:
        text = f"all {m[1]} required checks passed" + (f" (not required: {relaxed})" if relaxed else "")
    return text


def _refer_body(body: str, lang: str) -> str:
    out = []
    for finding in _SPLIT.split(body):
        m = _FINDING.fullmatch(finding)
        if m is None:
            out.append(_detail(finding, lang) or finding)
            continue
        detail = m["detail"]
        out.append(f"{describe(m['code'], lang)} ({_detail(detail, lang) or detail})")
    return "; ".join(out)


def explain(message: str, lang: str) -> str:
    """The gate's explanation (or one check's detail) in ``lang``: "vi" translates the details, "en" (and any
    other language) keeps them; both put reason codes in words. An unrecognised message comes back unchanged."""
    if not isinstance(message, str) or not message:
        return message
    lang = "vi" if lang == "vi" else "en"
    body, suffix = message, ""
    m = _SUFFIX.fullmatch(message)
    if m is not None:
        body = m["body"]
        suffix = f" [{'người thật' if lang == 'vi' else 'liveness'}: {m['why']}]"
    kind, sep, rest = body.partition(": ")
    if sep and kind == "refer":
        return _PREFIX["refer"][lang] + _refer_body(rest, lang) + suffix
    if sep and kind == "open":
        text = _open_body(rest, lang)
        if text is not None:
            return _PREFIX["open"][lang] + text + suffix
        return message
    detail = _detail(body, lang)
    if detail is not None:
        return detail + suffix
    return message

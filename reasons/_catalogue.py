"""The reason codes and their words: a short phrase for a border guard, a polite line for the traveller.

One row per code: (severity, guard phrase in vi/en/zh, traveller sentence in vi/en/zh). A traveller is
never told "watchlist", "forged" or "cloned": those codes (and the other suspected-fraud codes) share
one neutral sentence asking for a manual check. Every traveller text ends by saying where to go.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "CODES", "describe", "traveller_text", "severity"]

#: the languages every code has text in; any other language gets English
LANGUAGES = ("vi", "en", "zh")

# where a referred traveller goes (no site-specific "on your left": the desk beside the gates)
_DESK = {
    "vi": "Vui lòng đến quầy có cán bộ trực bên cạnh các cổng tự động.",
    "en": "Please go to the staffed desk beside the gates.",
    "zh": "请前往自助通道旁的人工柜台。",
}
# the one sentence for anything a traveller must not be told the reason of, without where to go (``where``)
_NEUTRAL_REASON = {
    "vi": "Vui lòng gặp cán bộ để được kiểm tra thủ công.",
    "en": "Please see an officer for a manual check.",
    "zh": "请由工作人员为您人工核验。",
}
# the same with where to go
_NEUTRAL = {
    "vi": "Vui lòng gặp cán bộ để được kiểm tra thủ công tại quầy có cán bộ trực bên cạnh các cổng tự động.",
    "en": "Please see an officer for a manual check at the staffed desk beside the gates.",
    "zh": "请到自助通道旁的人工柜台，由工作人员为您人工核验。",
}

# severity: 0 watchlist hit, 1 suspected fraud, 2 identity doubt, 3 everything else
_HIT, _FRAUD, _DOUBT, _OTHER = 0, 1, 2, 3

#: code -> (severity, guard phrase {lang: text}, traveller sentence {lang: text} or None for the neutral one)
_TABLE: dict[str, tuple[int, dict[str, str], dict[str, str] | None]] = {
    "watchlist_hit": (_HIT, {
        "vi": "Trùng danh sách theo dõi",
        "en": "Watchlist hit",
        "zh": "命中监控名单",
    }, None),
    # -- suspected fraud: a forged or cloned chip, a presentation attack
    "chip_cloned": (_FRAUD, {
        "vi": "Nghi chip bị sao chép (nhân bản)",
        "en": "Chip suspected cloned",
        "zh": "疑似克隆芯片",
    }, None),
    "chip_pa_failed": (_FRAUD, {
        "vi": "Chữ ký dữ liệu chip không hợp lệ (xác thực thụ động thất bại)",
        "en": "Chip data signature not verified (passive authentication failed)",
        "zh": "芯片数据签名未通过验证（被动认证失败）",
    }, None),
    "chip_aa_failed": (_FRAUD, {
        "vi": "Chip không qua xác thực chủ động (có thể bị sao chép)",
        "en": "Chip failed active authentication (possible clone)",
        "zh": "芯片主动认证失败（可能被克隆）",
    }, None),
    "chip_ca_failed": (_FRAUD, {
        "vi": "Chip không qua xác thực chip (có thể bị sao chép)",
        "en": "Chip failed chip authentication (possible clone)",
        "zh": "芯片认证失败（可能被克隆）",
    }, None),
    "mrz_mismatch": (_FRAUD, {
        "vi": "Dòng MRZ in trên trang khác dữ liệu trong chip",
        "en": "Printed MRZ differs from the chip",
        "zh": "证件页机读码与芯片数据不一致",
    }, None),
    "liveness_failed": (_FRAUD, {
        "vi": "Nghi giả mạo khuôn mặt (kiểm tra người thật thất bại)",
        "en": "Presentation attack suspected (liveness check failed)",
        "zh": "疑似人脸伪造攻击（活体检测未通过）",
    }, {
        "vi": "Chúng tôi chưa hoàn tất được bước kiểm tra khuôn mặt.",
        "en": "We could not complete the face check.",
        "zh": "我们未能完成人脸核验。",
    }),
    # -- identity doubt
    "face_mismatch": (_DOUBT, {
        "vi": "Khuôn mặt không khớp ảnh trong chip",
        "en": "Face does not match the chip photo",
        "zh": "人脸与芯片照片不匹配",
    }, {
        "vi": "Chúng tôi chưa đối chiếu được khuôn mặt của bạn với ảnh trong chip của giấy tờ.",
        "en": "We could not match your face with the photo on your document's chip.",
        "zh": "我们未能将您的面部与证件芯片中的照片进行匹配。",
    }),
    "fingerprint_mismatch": (_DOUBT, {
        "vi": "Vân tay không khớp vân tay đã đăng ký",
        "en": "Fingerprints do not match the enrolled ones",
        "zh": "指纹与已登记指纹不匹配",
    }, {
        "vi": "Chúng tôi chưa xác nhận được vân tay của bạn.",
        "en": "We could not confirm your fingerprints.",
        "zh": "我们未能确认您的指纹。",
    }),
    "duplicate_enrolment": (_DOUBT, {
        "vi": "Nghi đăng ký trùng (đã có hồ sơ tương tự)",
        "en": "Possible duplicate enrolment",
        "zh": "疑似重复登记",
    }, {
        "vi": "Hồ sơ đăng ký của bạn cần cán bộ kiểm tra thêm.",
        "en": "Your enrolment needs a short check by an officer.",
        "zh": "您的登记需要工作人员进行简短核查。",
    }),
    "tailgating": (_DOUBT, {
        "vi": "Có hơn một người trong làn",
        "en": "More than one person in the lane",
        "zh": "通道内不止一人",
    }, {
        "vi": "Mỗi lần chỉ một người được đi qua cổng.",
        "en": "Only one person may pass through the gate at a time.",
        "zh": "每次只能一人通过闸机。",
    }),
    # -- everything else
    "document_unreadable": (_OTHER, {
        "vi": "Không đọc được dữ liệu giấy tờ",
        "en": "Document data could not be read",
        "zh": "无法读取证件数据",
    }, {
        "vi": "Chúng tôi không đọc được giấy tờ của bạn.",
        "en": "We could not read your document.",
        "zh": "我们无法读取您的证件。",
    }),
    "document_expired": (_OTHER, {
        "vi": "Giấy tờ đã hết hạn",
        "en": "Document expired",
        "zh": "证件已过期",
    }, {
        "vi": "Giấy tờ của bạn có vẻ đã hết hạn.",
        "en": "Your document appears to have expired.",
        "zh": "您的证件似乎已过期。",
    }),
    "chip_read_failed": (_OTHER, {
        "vi": "Không đọc được chip",
        "en": "Chip could not be read",
        "zh": "无法读取芯片",
    }, {
        "vi": "Chúng tôi không đọc được chip trong giấy tờ của bạn.",
        "en": "We could not read the chip in your document.",
        "zh": "我们无法读取您证件中的芯片。",
    }),
    "failure_to_acquire": (_OTHER, {
        "vi": "Không chụp được ảnh khuôn mặt dùng được",
        "en": "No usable face capture",
        "zh": "未能采集到可用的人脸图像",
    }, {
        "vi": "Chúng tôi chưa chụp được ảnh rõ khuôn mặt của bạn.",
        "en": "We could not take a clear picture of your face.",
        "zh": "我们未能拍摄到您清晰的面部照片。",
    }),
    "fingerprint_unavailable": (_OTHER, {
        "vi": "Không kiểm tra được vân tay (không kết nối được hệ thống trung tâm)",
        "en": "Fingerprint check unavailable (back office unreachable)",
        "zh": "无法进行指纹核验（后台无法连接）",
    }, {
        "vi": "Hiện chưa thể kiểm tra vân tay.",
        "en": "The fingerprint check is not available at the moment.",
        "zh": "指纹核验暂时无法使用。",
    }),
    "watchlist_stale": (_DOUBT, {  # not checked against a current watchlist: could be a hit
        "vi": "Bản sao danh sách theo dõi tại cổng đã cũ",
        "en": "Local watchlist copy out of date",
        "zh": "本地监控名单副本已过期",
    }, {
        "vi": "Hệ thống kiểm tra tự động hiện chưa sẵn sàng.",
        "en": "The automated check is not available at the moment.",
        "zh": "自动核验暂时无法使用。",
    }),
    "crl_stale": (_OTHER, {  # the verifier's CRL is out of date: a gap of the system, not a doubt about the document
        "vi": "Danh sách thu hồi chứng thư (CRL) của quốc gia cấp đã quá hạn cập nhật",
        "en": "The issuing state's certificate revocation list (CRL) is out of date",
        "zh": "签发国的证书吊销列表（CRL）已过期",
    }, {
        "vi": "Hiện chưa thể kiểm tra tự động giấy tờ của bạn.",
        "en": "Your document cannot be checked automatically at the moment.",
        "zh": "暂时无法自动核验您的证件。",
    }),
    "chip_key_unusable": (_OTHER, {  # AA/CA not verifiable (e.g. EC parameters of no named curve): no sign of a clone
        "vi": "Không dùng được khóa xác thực của chip (không kiểm tra được xác thực chủ động/xác thực chip)",
        "en": "The chip's authentication key cannot be used (active/chip authentication not verified)",
        "zh": "芯片认证密钥无法使用（无法核验主动认证/芯片认证）",
    }, {
        "vi": "Giấy tờ của bạn không thể kiểm tra tự động tại đây.",
        "en": "Your document cannot be checked automatically here.",
        "zh": "您的证件无法在此自动核验。",
    }),
    "minor": (_OTHER, {
        "vi": "Hành khách chưa thành niên",
        "en": "Traveller is a minor",
        "zh": "旅客为未成年人",
    }, {
        "vi": "Trẻ em và người chưa thành niên được cán bộ làm thủ tục.",
        "en": "Children and young travellers are checked by an officer.",
        "zh": "儿童及未成年旅客由工作人员办理。",
    }),
    "not_eligible": (_OTHER, {
        "vi": "Loại giấy tờ không được dùng tại cổng tự động",
        "en": "Document type not accepted at the e-gates",
        "zh": "该证件类型不可使用自助通道",
    }, {
        "vi": "Loại giấy tờ này không dùng được tại cổng tự động.",
        "en": "This document cannot be used at the automated gates.",
        "zh": "该证件不能在自助通道使用。",
    }),
    "timeout": (_OTHER, {
        "vi": "Một bước đã quá thời gian",
        "en": "A step timed out",
        "zh": "某一步骤超时",
    }, {
        "vi": "Đã hết thời gian cho bước này.",
        "en": "The time for this step ran out.",
        "zh": "此步骤已超时。",
    }),
    "hardware_fault": (_OTHER, {
        "vi": "Lỗi thiết bị hoặc phần mềm xử lý",
        "en": "Device or engine fault",
        "zh": "设备或处理引擎故障",
    }, {
        "vi": "Một thiết bị đang gặp sự cố. Xin lỗi vì sự bất tiện này.",
        "en": "A device is not working right now. We apologise for the inconvenience.",
        "zh": "设备暂时出现故障，给您带来不便，敬请谅解。",
    }),
    "evidence_missing": (_DOUBT, {  # a check that could not be made is a doubt, not routine
        "vi": "Chưa thực hiện đủ các bước kiểm tra bắt buộc",
        "en": "Required checks not completed",
        "zh": "必需的检查未完成",
    }, {
        "vi": "Chúng tôi chưa hoàn tất được tất cả các bước kiểm tra.",
        "en": "We could not complete all the checks.",
        "zh": "我们未能完成全部核验步骤。",
    }),
    "consent_refused": (_OTHER, {
        "vi": "Hành khách không đồng ý",
        "en": "Traveller declined consent",
        "zh": "旅客未同意",
    }, {
        "vi": "Bạn đã không đồng ý; không có dữ liệu nào được lưu.",
        "en": "You chose not to give consent; nothing was kept.",
        "zh": "您未同意，未保存任何数据。",
    }),
    "other": (_OTHER, {
        "vi": "Lý do khác",
        "en": "Other reason",
        "zh": "其他原因",
    }, {
        "vi": "Cần kiểm tra thủ công.",
        "en": "A manual check is needed.",
        "zh": "需要人工核验。",
    }),
}

#: every reason code the gate, the kiosk, the enrolment workflow and the back office emit
CODES: tuple[str, ...] = tuple(_TABLE)


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


def describe(code: str, lang: str) -> str:
    """A short phrase for a border guard; an unknown code is its own words (``a_b`` -> ``a b``)."""
    row = _TABLE.get(code)
    if row is None:
        return str(code).replace("_", " ")
    return row[1][_lang(lang)]


def traveller_text(code: str, lang: str, *, where: str | None = None) -> str:
    """What a referred traveller is told: polite, never accusatory, and where to go. Suspected fraud, a
    watchlist hit and an unknown code all get one neutral request for a manual check. ``where`` replaces
    the generic "staffed desk beside the gates" (a site's own directions, e.g. a kiosk's "Counter 3, on
    your left"); ``where=""``: the sentence alone, for a screen that shows where to go on its own."""
    lang = _lang(lang)
    row = _TABLE.get(code)
    if where is None:
        if row is None or row[2] is None:
            return _NEUTRAL[lang]
        sentence, where = row[2][lang], _DESK[lang]
    else:
        sentence = _NEUTRAL_REASON[lang] if row is None or row[2] is None else row[2][lang]
    return sentence + ("" if lang == "zh" or not where else " ") + where


def severity(code: str) -> int:
    """0 is the most urgent: 0 watchlist hit, 1 suspected fraud, 2 identity doubt, 3 anything else."""
    row = _TABLE.get(code)
    return _OTHER if row is None else row[0]

"""UI strings of officer calls, Vietnamese and English (merged by ``backoffice._i18n``)."""

EN: dict[str, str] = {
    "call_title": "Officer calls", "call_none": "No officer call waiting.", "call_count": "Calls waiting",
    "call_location": "Location", "call_device": "Device", "call_screen": "Screen", "call_reason": "Reason",
    "call_age": "Waiting", "call_status": "Status", "call_acknowledge": "Acknowledge (on my way)",
    "call_close": "Close", "call_acknowledged_by": "On the way", "call_age_s": "{n} s", "call_age_min": "{n} min",
    "call_acknowledged": "Call acknowledged.", "call_closed": "Call closed.",
    "call_kind_gate": "E-gate", "call_kind_kiosk": "Kiosk",
    "call_reason_traveller_request": "Traveller asked for help", "call_reason_referral": "Traveller referred",
    "call_reason_device_fault": "Device fault", "call_reason_other": "Other",
    "call_status_open": "new", "call_status_acknowledged": "acknowledged", "call_status_closed": "closed",
    "call_state_language": "language choice", "call_state_document": "document", "call_state_consent": "consent",
    "call_state_chip": "chip", "call_state_face": "face", "call_state_fingerprints": "fingerprints",
    "call_state_finger": "fingerprints", "call_state_review": "review", "call_state_done": "end",
    "call_state_watchlist": "watchlist", "call_state_decide": "decision", "call_state_refer": "referral",
}
VI: dict[str, str] = {
    "call_title": "Yêu cầu hỗ trợ", "call_none": "Không có yêu cầu hỗ trợ nào đang chờ.",
    "call_count": "Yêu cầu đang chờ", "call_location": "Vị trí", "call_device": "Thiết bị", "call_screen": "Màn hình",
    "call_reason": "Lý do", "call_age": "Đã chờ", "call_status": "Trạng thái",
    "call_acknowledge": "Xác nhận (đang đến)", "call_close": "Đóng", "call_acknowledged_by": "Đang đến",
    "call_age_s": "{n} giây", "call_age_min": "{n} phút",
    "call_acknowledged": "Đã xác nhận yêu cầu.", "call_closed": "Đã đóng yêu cầu.",
    "call_kind_gate": "Cổng tự động", "call_kind_kiosk": "Ki-ốt",
    "call_reason_traveller_request": "Hành khách cần hỗ trợ", "call_reason_referral": "Hành khách được chuyển kiểm tra",
    "call_reason_device_fault": "Lỗi thiết bị", "call_reason_other": "Khác",
    "call_status_open": "mới", "call_status_acknowledged": "đã xác nhận", "call_status_closed": "đã đóng",
    "call_state_language": "chọn ngôn ngữ", "call_state_document": "giấy tờ", "call_state_consent": "đồng ý",
    "call_state_chip": "chip", "call_state_face": "khuôn mặt", "call_state_fingerprints": "vân tay",
    "call_state_finger": "vân tay", "call_state_review": "xem lại", "call_state_done": "kết thúc",
    "call_state_watchlist": "danh sách theo dõi", "call_state_decide": "quyết định", "call_state_refer": "chuyển kiểm tra",
}

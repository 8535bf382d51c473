"""UI strings of the guards' queue and review page, Vietnamese and English (merged by ``backoffice._i18n``).
Every key starts with ``rv_``. Reason codes and the device's explanation are not here: they come from the
shared catalogue (``reasons.describe`` / ``reasons.explain``)."""

EN: dict[str, str] = {
    "rv_waiting": "waiting {n}", "rv_under_a_minute": "under a minute", "rv_minutes": "{m} min",
    "rv_hours": "{h} h {m:02d} min", "rv_days": "{d} d {h} h",
    "rv_count_waiting": "{n} waiting", "rv_count_one": "1 waiting",
    "rv_no_more": "No more cases: nothing is waiting.", "rv_decided_next": "Decision recorded. Next case:",
    "rv_next": "Next case", "rv_back_to_queue": "Back to the queue", "rv_open_first": "Open the first case",
    "rv_shortcuts": "Keys", "rv_key_next": "next case", "rv_key_queue": "queue",
    "rv_photo": "Photo", "rv_traveller": "Traveller", "rv_waited": "Waiting", "rv_at": "At",
    "rv_severity_0": "Watchlist hit", "rv_severity_1": "Suspected fraud", "rv_severity_2": "Identity in doubt",
    "rv_severity_3": "Other",
    "rv_score_face": "Face similarity", "rv_score_finger": "Fingerprint similarity",
    "rv_threshold": "threshold {t}",
    "rv_threshold_from_config": "threshold {t} from the back office's configuration (the device sent none)",
    "rv_below_threshold": "below the threshold: no match", "rv_at_threshold": "at or above the threshold: match",
    "rv_other_scores": "All scores", "rv_notes_optional": "Notes (optional)",
    "rv_device_says": "The device's explanation", "rv_no_name": "(no document read)",
    "rv_refreshes": "This list refreshes itself.", "rv_time_zone": "Times in {tz}.",
    "rv_decided_by": "by", "rv_listed_entry": "Listed entry",
    "rv_decision_admit": "admitted", "rv_decision_refuse": "refused", "rv_decision_refer": "referred to a supervisor",
}

VI: dict[str, str] = {
    "rv_waiting": "đã chờ {n}", "rv_under_a_minute": "chưa đến 1 phút", "rv_minutes": "{m} phút",
    "rv_hours": "{h} giờ {m:02d} phút", "rv_days": "{d} ngày {h} giờ",
    "rv_count_waiting": "{n} trường hợp đang chờ", "rv_count_one": "1 trường hợp đang chờ",
    "rv_no_more": "Không còn trường hợp nào: hàng chờ trống.",
    "rv_decided_next": "Đã ghi nhận quyết định. Trường hợp tiếp theo:",
    "rv_next": "Trường hợp tiếp theo", "rv_back_to_queue": "Quay lại hàng chờ", "rv_open_first": "Mở trường hợp đầu tiên",
    "rv_shortcuts": "Phím tắt", "rv_key_next": "trường hợp tiếp theo", "rv_key_queue": "hàng chờ",
    "rv_photo": "Ảnh", "rv_traveller": "Hành khách", "rv_waited": "Thời gian chờ", "rv_at": "Lúc",
    "rv_severity_0": "Trùng danh sách theo dõi", "rv_severity_1": "Nghi gian lận", "rv_severity_2": "Nghi vấn danh tính",
    "rv_severity_3": "Khác",
    "rv_score_face": "Độ tương đồng khuôn mặt", "rv_score_finger": "Độ tương đồng vân tay",
    "rv_threshold": "ngưỡng {t}",
    "rv_threshold_from_config": "ngưỡng {t} theo cấu hình của trung tâm (thiết bị không gửi ngưỡng)",
    "rv_below_threshold": "dưới ngưỡng: không khớp", "rv_at_threshold": "đạt ngưỡng: khớp",
    "rv_other_scores": "Tất cả điểm số", "rv_notes_optional": "Ghi chú (không bắt buộc)",
    "rv_device_says": "Giải thích của thiết bị", "rv_no_name": "(chưa đọc được giấy tờ)",
    "rv_refreshes": "Danh sách tự cập nhật.", "rv_time_zone": "Giờ theo múi {tz}.",
    "rv_decided_by": "bởi", "rv_listed_entry": "Mục trong danh sách",
    "rv_decision_admit": "cho qua", "rv_decision_refuse": "từ chối", "rv_decision_refer": "đã chuyển cấp trên",
}

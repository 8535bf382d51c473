"""UI strings in Vietnamese (default) and English. Keys are English snake_case."""

from __future__ import annotations

__all__ = ["LANGUAGES", "translate"]

LANGUAGES = ("vi", "en")

_EN = {
    "app_title": "Bắc Luân I back office", "login": "Sign in", "logout": "Sign out", "username": "Username",
    "password": "Password", "bad_login": "Wrong username or password.", "throttled": "Too many failed attempts; try again later.",
    "login_form_expired": "The sign-in form expired or did not come from this site; please sign in again.",
    "queue": "Review queue", "watchlist": "Watchlist", "privacy": "Privacy", "admin": "Administration",
    "no_exceptions": "No exceptions waiting.", "received": "Received", "device": "Device", "reasons": "Reasons",
    "scores": "Scores", "status": "Status", "review": "Review", "live_image": "Live capture", "chip_image": "Chip photo (DG2)",
    "no_image": "No image", "document": "Document", "document_number": "Document number", "issuing_state": "Issuing state",
    "surname": "Surname", "given_names": "Given names", "nationality": "Nationality", "date_of_birth": "Date of birth",
    "date_of_expiry": "Date of expiry", "decision": "Decision", "admit": "Admit", "refuse": "Refuse", "refer": "Refer to supervisor",
    "notes": "Notes", "submit": "Submit", "decided": "Decision recorded.", "watchlist_matches": "Watchlist matches",
    "check": "Check", "name": "Name", "import_csv": "Import CSV", "kind": "Kind", "person": "Person",
    "dry_run": "Dry run", "accepted": "Accepted", "rejected": "Rejected", "row": "Row", "errors": "Errors",
    "entries": "Entries", "version": "Version", "retention_report": "Retention report", "purge_history": "Purge history",
    "run_purge": "Run purge", "ledger": "Audit ledger", "verify_ledger": "Verify ledger", "ledger_ok": "Ledger intact",
    "ledger_broken": "Ledger BROKEN", "subject_export": "Subject access export", "export": "Export",
    "erase": "Erase subject", "purposes": "Register of processing purposes", "purpose": "Purpose",
    "legal_basis": "Legal basis", "retention": "Retention", "categories": "Data categories", "users": "Users",
    "devices": "Devices", "role": "Role", "active": "Active", "create_user": "Create user", "issue_device": "Issue device credential",
    "rotate": "Rotate", "revoke": "Revoke", "token_once": "Device token (shown once)", "location": "Location",
    "forbidden": "Your role may not open this page.", "language": "Language", "entries_count": "Entries",
    "records": "Records", "due": "Due for purge", "category": "Category", "at": "At", "actor": "Actor",
    "action": "Action", "record": "Record", "result": "Result", "referred_note": "Referred exceptions wait for a supervisor.",
    "home": "Home", "hit": "Hit", "score": "Score", "no_matches": "No matches.", "pending": "Pending",
    "enrolments": "Suspected duplicate enrolments", "enrolments_note": "Held until a supervisor accepts or rejects them.",
    "no_enrolments": "No enrolment waiting.", "checks": "Checks", "duplicates": "Possible duplicates",
    "accept": "Accept", "reject": "Reject",
    "status_open": "open", "status_referred": "referred", "status_resolved": "resolved",
}

_VI = {
    "app_title": "Trung tâm quản lý cửa khẩu Bắc Luân I", "login": "Đăng nhập", "logout": "Đăng xuất", "username": "Tên đăng nhập",
    "password": "Mật khẩu", "bad_login": "Sai tên đăng nhập hoặc mật khẩu.", "throttled": "Quá nhiều lần thử sai; vui lòng thử lại sau.",
    "login_form_expired": "Biểu mẫu đăng nhập đã hết hạn hoặc không đến từ trang này; vui lòng đăng nhập lại.",
    "queue": "Hàng chờ xét duyệt", "watchlist": "Danh sách theo dõi", "privacy": "Bảo vệ dữ liệu", "admin": "Quản trị",
    "no_exceptions": "Không có trường hợp nào đang chờ.", "received": "Thời điểm nhận", "device": "Thiết bị", "reasons": "Lý do",
    "scores": "Điểm số", "status": "Trạng thái", "review": "Xét duyệt", "live_image": "Ảnh chụp trực tiếp",
    "chip_image": "Ảnh trong chip (DG2)", "no_image": "Không có ảnh", "document": "Giấy tờ", "document_number": "Số giấy tờ",
    "issuing_state": "Quốc gia cấp", "surname": "Họ", "given_names": "Tên", "nationality": "Quốc tịch",
    "date_of_birth": "Ngày sinh", "date_of_expiry": "Ngày hết hạn", "decision": "Quyết định", "admit": "Cho qua",
    "refuse": "Từ chối", "refer": "Chuyển cấp trên", "notes": "Ghi chú", "submit": "Gửi", "decided": "Đã ghi nhận quyết định.",
    "watchlist_matches": "Kết quả đối chiếu danh sách", "check": "Kiểm tra", "name": "Họ tên", "import_csv": "Nhập tệp CSV",
    "kind": "Loại", "person": "Cá nhân", "dry_run": "Chạy thử", "accepted": "Chấp nhận", "rejected": "Bị từ chối",
    "row": "Dòng", "errors": "Lỗi", "entries": "Mục", "version": "Phiên bản", "retention_report": "Báo cáo lưu giữ",
    "purge_history": "Lịch sử xoá dữ liệu", "run_purge": "Chạy xoá dữ liệu", "ledger": "Sổ nhật ký kiểm toán",
    "verify_ledger": "Kiểm tra sổ nhật ký", "ledger_ok": "Sổ nhật ký toàn vẹn", "ledger_broken": "Sổ nhật ký BỊ SỬA ĐỔI",
    "subject_export": "Xuất dữ liệu theo yêu cầu chủ thể", "export": "Xuất", "erase": "Xoá dữ liệu chủ thể",
    "purposes": "Sổ đăng ký mục đích xử lý", "purpose": "Mục đích", "legal_basis": "Cơ sở pháp lý", "retention": "Thời hạn lưu",
    "categories": "Loại dữ liệu", "users": "Người dùng", "devices": "Thiết bị", "role": "Vai trò", "active": "Hoạt động",
    "create_user": "Tạo người dùng", "issue_device": "Cấp thông tin xác thực thiết bị", "rotate": "Đổi khoá", "revoke": "Thu hồi",
    "token_once": "Mã thiết bị (chỉ hiển thị một lần)", "location": "Vị trí", "forbidden": "Vai trò của bạn không được mở trang này.",
    "language": "Ngôn ngữ", "entries_count": "Số mục", "records": "Bản ghi", "due": "Đến hạn xoá", "category": "Loại",
    "at": "Lúc", "actor": "Người thực hiện", "action": "Hành động", "record": "Bản ghi", "result": "Kết quả",
    "referred_note": "Các trường hợp đã chuyển chờ cấp trên quyết định.", "home": "Trang chủ", "hit": "Trùng khớp",
    "score": "Điểm", "no_matches": "Không có kết quả trùng khớp.", "pending": "Đang chờ",
    "enrolments": "Hồ sơ đăng ký nghi trùng lặp", "enrolments_note": "Được giữ lại cho đến khi cấp trên chấp nhận hoặc từ chối.",
    "no_enrolments": "Không có hồ sơ đăng ký nào đang chờ.", "checks": "Phép kiểm tra", "duplicates": "Có thể trùng",
    "accept": "Chấp nhận", "reject": "Từ chối",
    "status_open": "đang chờ", "status_referred": "đã chuyển cấp trên", "status_resolved": "đã xử lý",
}

_TABLES = {"en": _EN, "vi": _VI}


def _extend() -> None:
    """Each area of the UI keeps its strings in a module of its own (``EN`` and ``VI`` dicts): the review,
    the watchlist, officer calls, the privacy pages. A key defined twice is an error, not an override."""
    from backoffice import _i18n_calls, _i18n_privacy, _i18n_review, _i18n_watchlist

    for module in (_i18n_review, _i18n_watchlist, _i18n_calls, _i18n_privacy):
        for code, table in (("en", module.EN), ("vi", module.VI)):
            clash = set(table) & set(_TABLES[code])
            if clash:
                raise RuntimeError(f"{module.__name__}: UI strings defined twice: {sorted(clash)}")
            _TABLES[code].update(table)


_extend()


def translate(language: str, key: str) -> str:
    table = _TABLES.get(language, _VI)
    return table.get(key) or _EN.get(key) or key

"""UI strings of the watchlist pages, Vietnamese and English (merged by ``backoffice._i18n``)."""

EN: dict[str, str] = {}
VI: dict[str, str] = {}

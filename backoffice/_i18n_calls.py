"""UI strings of officer calls, Vietnamese and English (merged by ``backoffice._i18n``)."""

EN: dict[str, str] = {}
VI: dict[str, str] = {}

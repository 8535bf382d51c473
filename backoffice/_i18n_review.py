"""UI strings of the guards' queue and review page, Vietnamese and English (merged by ``backoffice._i18n``)."""

EN: dict[str, str] = {}
VI: dict[str, str] = {}

"""Three-letter codes of issuing States, organisations and nationalities in machine readable zones: ICAO Doc 9303
Part 3 §5 (8th edition, 2021), for the MRZ's issuing State or organisation and nationality fields.

- :data:`ISO_3166_CODES`: the ISO 3166-1 alpha-3 codes of all States and entities (Part 3 §5.1), which
  Doc 9303 adopts with one exception: Germany's code is ``D``. ``DEU`` never appears on German documents, so it
  is not in :data:`STATE_CODES` or :data:`ISSUER_CODES`: an MRZ holding it is the anomaly the warning is for;
- :data:`UK_CODES`: the United Kingdom's codes for British nationals other than citizens (GBD, GBN, GBO, GBP,
  GBS), which Doc 9303 lists with GBR;
- :data:`ORGANISATION_CODES`: organisations that issue travel documents (EUE, UNO, UNA, UNK, XBA, XIM, XCC, XCE,
  XCO, XEC, XPO, XES, XMP, XOM, XDC) (Part 3 §5.2);
- :data:`NATIONALITY_ONLY_CODES`: persons without a defined nationality (Part 3 §5.3): XXA stateless (1954
  Convention), XXB refugee (1951 Convention), XXC other refugee, XXX unspecified nationality. They name a
  holder's status, never an issuer;
- :data:`SPECIMEN_CODES`: UTO, the fictitious State of Utopia of Doc 9303's specimens.

Codes in use that Doc 9303 does not list are *unknown* here on purpose, so a reader sees them: ``RKS`` (Kosovo's
own passports, not ICAO-endorsed), ``XXK`` (seen on some residence permits), ``XKX``; also withdrawn ISO codes
(ANT Netherlands Antilles, NTZ Neutral Zone), whose documents have all expired.
:func:`is_known_state_code` answers for the nationality field, :func:`is_known_issuer_code` for the issuing
State or organisation field. Fillers are stripped (``"D<<"`` is ``D``). ``emrtd._mrz`` turns an unknown code
into a named warning (``unknown_state_code``); the kiosk and the MRZ reader reuse the lookup.
"""

from __future__ import annotations

__all__ = [
    "ISO_3166_CODES",
    "UK_CODES",
    "ORGANISATION_CODES",
    "NATIONALITY_ONLY_CODES",
    "SPECIMEN_CODES",
    "STATE_CODES",
    "ISSUER_CODES",
    "state_name",
    "is_known_state_code",
    "is_known_issuer_code",
]

# ISO 3166-1 alpha-3 (249 codes; cross-checked against Debian's iso-codes in tests/emrtd/test_states.py)
_ISO_3166: dict[str, str] = {
    "ABW": "Aruba", "AFG": "Afghanistan", "AGO": "Angola", "AIA": "Anguilla", "ALA": "Åland Islands", "ALB": "Albania",
    "AND": "Andorra", "ARE": "United Arab Emirates", "ARG": "Argentina", "ARM": "Armenia", "ASM": "American Samoa",
    "ATA": "Antarctica", "ATF": "French Southern Territories", "ATG": "Antigua and Barbuda", "AUS": "Australia",
    "AUT": "Austria", "AZE": "Azerbaijan", "BDI": "Burundi", "BEL": "Belgium", "BEN": "Benin",
    "BES": "Bonaire, Sint Eustatius and Saba", "BFA": "Burkina Faso", "BGD": "Bangladesh", "BGR": "Bulgaria",
    "BHR": "Bahrain", "BHS": "Bahamas", "BIH": "Bosnia and Herzegovina", "BLM": "Saint Barthélemy", "BLR": "Belarus",
    "BLZ": "Belize", "BMU": "Bermuda", "BOL": "Bolivia", "BRA": "Brazil", "BRB": "Barbados",
    "BRN": "Brunei Darussalam", "BTN": "Bhutan", "BVT": "Bouvet Island", "BWA": "Botswana",
    "CAF": "Central African Republic", "CAN": "Canada", "CCK": "Cocos (Keeling) Islands", "CHE": "Switzerland",
    "CHL": "Chile", "CHN": "China", "CIV": "Côte d'Ivoire", "CMR": "Cameroon",
    "COD": "Congo, The Democratic Republic of the", "COG": "Congo", "COK": "Cook Islands", "COL": "Colombia",
    "COM": "Comoros", "CPV": "Cabo Verde", "CRI": "Costa Rica", "CUB": "Cuba", "CUW": "Curaçao",
    "CXR": "Christmas Island", "CYM": "Cayman Islands", "CYP": "Cyprus", "CZE": "Czechia", "DEU": "Germany",
    "DJI": "Djibouti", "DMA": "Dominica", "DNK": "Denmark", "DOM": "Dominican Republic", "DZA": "Algeria",
    "ECU": "Ecuador", "EGY": "Egypt", "ERI": "Eritrea", "ESH": "Western Sahara", "ESP": "Spain", "EST": "Estonia",
    "ETH": "Ethiopia", "FIN": "Finland", "FJI": "Fiji", "FLK": "Falkland Islands (Malvinas)", "FRA": "France",
    "FRO": "Faroe Islands", "FSM": "Micronesia, Federated States of", "GAB": "Gabon", "GBR": "United Kingdom",
    "GEO": "Georgia", "GGY": "Guernsey", "GHA": "Ghana", "GIB": "Gibraltar", "GIN": "Guinea", "GLP": "Guadeloupe",
    "GMB": "Gambia", "GNB": "Guinea-Bissau", "GNQ": "Equatorial Guinea", "GRC": "Greece", "GRD": "Grenada",
    "GRL": "Greenland", "GTM": "Guatemala", "GUF": "French Guiana", "GUM": "Guam", "GUY": "Guyana", "HKG": "Hong Kong",
    "HMD": "Heard Island and McDonald Islands", "HND": "Honduras", "HRV": "Croatia", "HTI": "Haiti", "HUN": "Hungary",
    "IDN": "Indonesia", "IMN": "Isle of Man", "IND": "India", "IOT": "British Indian Ocean Territory",
    "IRL": "Ireland", "IRN": "Iran", "IRQ": "Iraq", "ISL": "Iceland", "ISR": "Israel", "ITA": "Italy",
    "JAM": "Jamaica", "JEY": "Jersey", "JOR": "Jordan", "JPN": "Japan", "KAZ": "Kazakhstan", "KEN": "Kenya",
    "KGZ": "Kyrgyzstan", "KHM": "Cambodia", "KIR": "Kiribati", "KNA": "Saint Kitts and Nevis", "KOR": "South Korea",
    "KWT": "Kuwait", "LAO": "Laos", "LBN": "Lebanon", "LBR": "Liberia", "LBY": "Libya", "LCA": "Saint Lucia",
    "LIE": "Liechtenstein", "LKA": "Sri Lanka", "LSO": "Lesotho", "LTU": "Lithuania", "LUX": "Luxembourg",
    "LVA": "Latvia", "MAC": "Macao", "MAF": "Saint Martin (French part)", "MAR": "Morocco", "MCO": "Monaco",
    "MDA": "Moldova", "MDG": "Madagascar", "MDV": "Maldives", "MEX": "Mexico", "MHL": "Marshall Islands",
    "MKD": "North Macedonia", "MLI": "Mali", "MLT": "Malta", "MMR": "Myanmar", "MNE": "Montenegro", "MNG": "Mongolia",
    "MNP": "Northern Mariana Islands", "MOZ": "Mozambique", "MRT": "Mauritania", "MSR": "Montserrat",
    "MTQ": "Martinique", "MUS": "Mauritius", "MWI": "Malawi", "MYS": "Malaysia", "MYT": "Mayotte", "NAM": "Namibia",
    "NCL": "New Caledonia", "NER": "Niger", "NFK": "Norfolk Island", "NGA": "Nigeria", "NIC": "Nicaragua",
    "NIU": "Niue", "NLD": "Netherlands", "NOR": "Norway", "NPL": "Nepal", "NRU": "Nauru", "NZL": "New Zealand",
    "OMN": "Oman", "PAK": "Pakistan", "PAN": "Panama", "PCN": "Pitcairn", "PER": "Peru", "PHL": "Philippines",
    "PLW": "Palau", "PNG": "Papua New Guinea", "POL": "Poland", "PRI": "Puerto Rico", "PRK": "North Korea",
    "PRT": "Portugal", "PRY": "Paraguay", "PSE": "Palestine, State of", "PYF": "French Polynesia", "QAT": "Qatar",
    "REU": "Réunion", "ROU": "Romania", "RUS": "Russian Federation", "RWA": "Rwanda", "SAU": "Saudi Arabia",
    "SDN": "Sudan", "SEN": "Senegal", "SGP": "Singapore", "SGS": "South Georgia and the South Sandwich Islands",
    "SHN": "Saint Helena, Ascension and Tristan da Cunha", "SJM": "Svalbard and Jan Mayen", "SLB": "Solomon Islands",
    "SLE": "Sierra Leone", "SLV": "El Salvador", "SMR": "San Marino", "SOM": "Somalia",
    "SPM": "Saint Pierre and Miquelon", "SRB": "Serbia", "SSD": "South Sudan", "STP": "Sao Tome and Principe",
    "SUR": "Suriname", "SVK": "Slovakia", "SVN": "Slovenia", "SWE": "Sweden", "SWZ": "Eswatini",
    "SXM": "Sint Maarten (Dutch part)", "SYC": "Seychelles", "SYR": "Syria", "TCA": "Turks and Caicos Islands",
    "TCD": "Chad", "TGO": "Togo", "THA": "Thailand", "TJK": "Tajikistan", "TKL": "Tokelau", "TKM": "Turkmenistan",
    "TLS": "Timor-Leste", "TON": "Tonga", "TTO": "Trinidad and Tobago", "TUN": "Tunisia", "TUR": "Türkiye",
    "TUV": "Tuvalu", "TWN": "Taiwan", "TZA": "Tanzania", "UGA": "Uganda", "UKR": "Ukraine",
    "UMI": "United States Minor Outlying Islands", "URY": "Uruguay", "USA": "United States", "UZB": "Uzbekistan",
    "VAT": "Holy See (Vatican City State)", "VCT": "Saint Vincent and the Grenadines", "VEN": "Venezuela",
    "VGB": "Virgin Islands, British", "VIR": "Virgin Islands, U.S.", "VNM": "Vietnam", "VUT": "Vanuatu",
    "WLF": "Wallis and Futuna", "WSM": "Samoa", "YEM": "Yemen", "ZAF": "South Africa", "ZMB": "Zambia",
    "ZWE": "Zimbabwe",
}
_OTHER: dict[str, str] = {
    "D": "Germany",
    "GBD": "British Overseas Territories Citizen", "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen", "GBP": "British Protected Person", "GBS": "British Subject",
}
_ORGANISATIONS: dict[str, str] = {
    "EUE": "European Union",
    "UNO": "United Nations Organization or one of its officials",
    "UNA": "Specialized agency of the United Nations or one of its officials",
    "UNK": "Resident of Kosovo to whom a travel document has been issued by the United Nations Interim "
           "Administration Mission in Kosovo (UNMIK)",
    "XBA": "African Development Bank (ADB)", "XIM": "African Export-Import Bank (AFREXIM bank)",
    "XCC": "Caribbean Community or one of its emissaries (CARICOM)", "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa (COMESA)",
    "XEC": "Economic Community of West African States (ECOWAS)",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XES": "Organisation of Eastern Caribbean States (OECS)",
    "XMP": "Parliamentary Assembly of the Mediterranean (PAM)",
    "XOM": "Sovereign Military Order of Malta or one of its emissaries",
    "XDC": "Southern African Development Community (SADC)",
}  # fmt: skip
_NATIONALITY_ONLY: dict[str, str] = {
    "XXA": "Stateless person (Article 1 of the 1954 Convention Relating to the Status of Stateless Persons)",
    "XXB": "Refugee (Article 1 of the 1951 Convention Relating to the Status of Refugees, 1967 Protocol)",
    "XXC": "Refugee, other than as defined under the code XXB",
    "XXX": "Person of unspecified nationality",
}
_SPECIMEN: dict[str, str] = {"UTO": "Utopia (specimen documents)"}

ISO_3166_CODES: frozenset[str] = frozenset(_ISO_3166)
UK_CODES: frozenset[str] = frozenset(c for c in _OTHER if c.startswith("GB"))
ORGANISATION_CODES: frozenset[str] = frozenset(_ORGANISATIONS)
NATIONALITY_ONLY_CODES: frozenset[str] = frozenset(_NATIONALITY_ONLY)
SPECIMEN_CODES: frozenset[str] = frozenset(_SPECIMEN)
#: ISO 3166-1 codes Doc 9303 replaces: Germany is ``D`` (Part 3 §5)
_REPLACED = frozenset({"DEU"})
#: every code the nationality field may hold
STATE_CODES: frozenset[str] = ((frozenset(_ISO_3166) - _REPLACED) | frozenset(_OTHER) | ORGANISATION_CODES
                               | NATIONALITY_ONLY_CODES | SPECIMEN_CODES)
#: every code the issuing State or organisation field may hold (a status such as XXA issues nothing)
ISSUER_CODES: frozenset[str] = STATE_CODES - NATIONALITY_ONLY_CODES
_NAMES = {c: n for c, n in {**_ISO_3166, **_OTHER, **_ORGANISATIONS, **_NATIONALITY_ONLY, **_SPECIMEN}.items()
          if c not in _REPLACED}


def _normal(code: str) -> str:
    return code.strip().upper().rstrip("<") if isinstance(code, str) else ""


def state_name(code: str) -> str | None:
    """The English name of a Doc 9303 code (``"VNM"`` -> ``"Vietnam"``, ``"D<<"`` -> ``"Germany"``), or None
    (``"DEU"`` too: not a Doc 9303 code)."""
    return _NAMES.get(_normal(code))


def is_known_state_code(code: str) -> bool:
    """Is ``code`` a Doc 9303 Part 3 code for the nationality field (a State, an organisation, XXA/XXB/XXC/XXX, UTO)?"""
    return _normal(code) in STATE_CODES


def is_known_issuer_code(code: str) -> bool:
    """Is ``code`` a Doc 9303 Part 3 code for the issuing State or organisation field (not XXA/XXB/XXC/XXX)?"""
    return _normal(code) in ISSUER_CODES

"""The MRZ reader for photographs: localisation, a neural recogniser fused with the OCR-B templates,
and a choice by field syntax and check digits (ICAO Doc 9303 Parts 3-7; issue #25).

For each MRZ zone the localiser finds (``_mrz_locate``), best first:

1. every line strip goes through the recogniser (``_mrz_engine``); the line length is 30 for three
   lines, 44 or 36 for two (the document code P says 44, A/C/I 36, else the glyphs' extent decides);
2. ``_mrz_fuse`` lays the line's fixed-pitch grid and scores each cell by both readers: the
   recogniser's characters placed on it plus ``TEMPLATE_WEIGHT`` times the OCR-B templates' margins
   (a line the recogniser read as all fillers is left to the templates);
3. field syntax masks the scores: digits in dates, check digits and numbers; letters or ``<`` in
   names and sex (M, F, <); document codes P/V (TD3, MRV-A), A/C/I/V (TD2, MRV-B), A/C/I (TD1);
   the issuing State and the nationality are the best scoring codes of emrtd's Doc 9303 list
   (``_states``: ISO 3166-1, organisations, XXA-XXX, UTO); a name ends at its second ``<<``;
4. where a check digit fails, the cheapest substitutions among each position's runner-up and
   look-alike characters that make it hold are made, within a cost bound (``repaired`` counts them);
5. the zone is read upright, then by the templates alone, then upside down, until one reading is
   valid (:func:`emrtd.check_mrz`); else the best scoring one is returned with ``valid`` False.

No zone, foreign script, no filler or a low confidence: :class:`MrzNotFoundError`, never a made-up MRZ.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from emrtd._mrz import check_digit, check_mrz
from emrtd._mrz_ocr import _CONFUSIONS, ALPHABET, MrzNotFoundError, MrzOcrError, OcrResult, _to_gray
from emrtd._states import ISSUER_CODES, STATE_CODES

__all__ = ["MrzImageError", "MrzReading", "read_mrz"]

TEMPLATE_WEIGHT = 8.0
# the most a repair may cost (score lost): beyond, a check digit that fails is left failing (the
# reading is then invalid) rather than "repaired" into another valid MRZ
_MAX_COST = 4.0
# the most characters a repair may change in one reading, all rounds together (issue #25 review item 2)
_MAX_CHANGES = 2
_LETTERS = np.array([c.isalpha() or c == "<" for c in ALPHABET])
_MASKS = {
    "A": np.array([c.isalpha() for c in ALPHABET]),
    "L": _LETTERS,
    "N": np.ones(37, bool),
    "D": np.array([c.isdigit() for c in ALPHABET]),
    "d": np.array([c.isdigit() or c == "<" for c in ALPHABET]),
    "X": np.array([c in "MF<" for c in ALPHABET]),
    "S": _LETTERS,
}
_MASKS["P"] = np.array([c in "PV" for c in ALPHABET])  # TD3 passports, MRV-A visas (Doc 9303 Parts 4, 7)
_MASKS["I"] = np.array([c in "ACIV" for c in ALPHABET])  # TD2 (A, C, I), MRV-B (V) (Parts 6, 7)
_MASKS["C"] = np.array([c in "ACI" for c in ALPHABET])  # TD1 (Part 5)
_L2_HEAD = "N" * 9 + "D" + "SSS" + "D" * 7 + "X" + "D" * 7  # TD2/TD3/MRV line 2, 0-27
_SYNTAX = {
    "TD3": ("PL" + "SSS" + "L" * 39, _L2_HEAD + "N" * 14 + "dD"),
    "MRVA": ("PL" + "SSS" + "L" * 39, _L2_HEAD + "N" * 16),
    "TD2": ("IL" + "SSS" + "L" * 31, _L2_HEAD.replace("N" * 9 + "D", "N" * 9 + "d", 1) + "N" * 7 + "D"),
    "MRVB": ("IL" + "SSS" + "L" * 31, _L2_HEAD + "N" * 8),
    "TD1": ("CL" + "SSS" + "N" * 9 + "d" + "N" * 15, "D" * 7 + "X" + "D" * 7 + "SSS" + "N" * 11 + "D", "L" * 30),
}
# (line, start, end) of the name
_NAMES = {"TD1": ((2, 0, 30),), "TD2": ((0, 5, 36),), "MRVB": ((0, 5, 36),), "TD3": ((0, 5, 44),), "MRVA": ((0, 5, 44),)}
# (line, start) of the issuing State and of the nationality
_STATES = {"TD1": ((0, 2), (1, 15))} | {f: ((0, 2), (1, 10)) for f in ("TD2", "TD3", "MRVA", "MRVB")}


class MrzImageError(MrzOcrError):
    """The input is not an image: a missing or empty file, or bytes no image decoder reads."""


def _gray(image) -> np.ndarray:
    from pathlib import Path

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise MrzImageError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise MrzImageError(f"{path}: empty file")
    arr = image if isinstance(image, np.ndarray) else None
    if arr is not None and arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype == np.uint8 and arr.size:
        import cv2

        return cv2.cvtColor(arr, cv2.COLOR_RGBA2GRAY if arr.shape[2] == 4 else cv2.COLOR_RGB2GRAY)
    try:
        return _to_gray(image)
    except MrzOcrError as e:
        raise MrzImageError(str(e)) from e


@dataclass(frozen=True)
class MrzReading:
    """One image's reading: ``lines`` (empty when no MRZ was found), ``valid`` (every check digit and
    field holds), ``confidence`` (mean recogniser probability of the chosen characters, 0..1),
    ``format`` (TD1, TD2, TD3, MRVA, MRVB), ``box`` (x0, y0, x1, y1 in the image), ``quad`` (its four
    corners), ``ms`` (time taken), ``repaired`` (characters changed by check-digit repair), ``engine``."""

    lines: tuple[str, ...]
    valid: bool
    confidence: float
    format: str
    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...] = ()
    ms: float = 0.0
    repaired: int = 0
    engine: str = "ppocr+templates"
    #: why the reading is not valid; they quote the MRZ's characters: never log them
    errors: tuple[str, ...] = field(default=(), repr=False)
    #: low-confidence parts kept as read (letters after a name's end); they quote the MRZ too
    warnings: tuple[str, ...] = field(default=(), repr=False)

    def to_ocr_result(self) -> OcrResult:
        return OcrResult(self.lines, self.confidence, self.repaired)


def _fields(fmt: str, lines: list[str]) -> list[tuple[list[tuple[int, int]], tuple[int, int]]]:
    """Check-digit fields: (data positions [(line, col)...], check position (line, col))."""
    def span(li, a, b):
        return [(li, c) for c in range(a, b)]

    if fmt == "TD1":
        out = [(span(1, 0, 6), (1, 6)), (span(1, 8, 14), (1, 14))]
        if lines[0][14] != "<":
            out.append((span(0, 5, 14), (0, 14)))
        comp = span(0, 5, 30) + span(1, 0, 7) + span(1, 8, 15) + span(1, 18, 29)
        return out + [(comp, (1, 29))]
    out = [(span(1, 13, 19), (1, 19)), (span(1, 21, 27), (1, 27))]
    if not (fmt == "TD2" and lines[1][9] == "<"):
        out.append((span(1, 0, 9), (1, 9)))
    if fmt == "TD3":
        if not (lines[1][42] == "<" and set(lines[1][28:42]) == {"<"}):
            out.append((span(1, 28, 42), (1, 42)))
        out.append((span(1, 0, 10) + span(1, 13, 20) + span(1, 21, 43), (1, 43)))
    elif fmt == "TD2":
        out.append((span(1, 0, 10) + span(1, 13, 20) + span(1, 21, 35), (1, 35)))
    return out


def _failing(fmt: str, rows: list[list[str]]) -> list[int]:
    lines = ["".join(r) for r in rows]
    bad = []
    for i, (data, (cl, cc)) in enumerate(_fields(fmt, lines)):
        if check_digit("".join(rows[li][c] for li, c in data)) != rows[cl][cc]:
            bad.append(i)
    return bad


def _decode(fmt: str, scores: list[np.ndarray]) -> tuple[list[list[str]], list[np.ndarray], float, list]:
    """Best characters under the field syntax and the state-code lists; the masked scores per line,
    the total score, and notes [(message, invalidating)]: a state code no listed code matches well
    (invalid), letters after a name's end (a low-confidence name, kept as read)."""
    masked = []
    rows = []
    for li, spec in enumerate(_SYNTAX[fmt]):
        m = np.where(np.stack([_MASKS[k] for k in spec]), scores[li], -np.inf)
        masked.append(m)
        rows.append([ALPHABET[i] for i in m.argmax(axis=1)])
    notes: list[tuple[str, bool]] = []  # (message, makes the reading invalid)
    for (li, start), codes, what in zip(_STATES[fmt], (ISSUER_CODES, STATE_CODES), ("issuing_state", "nationality"),
                                        strict=True):
        def code_score(c, li=li, start=start):
            return sum(float(masked[li][start + k, ALPHABET.index(ch)]) for k, ch in enumerate(c.ljust(3, "<")[:3]))

        read = "".join(rows[li][start: start + 3])
        best = max(codes, key=code_score)
        listed = best.ljust(3, "<")[:3]
        differ = sum(a != b for a, b in zip(read, listed, strict=True))
        # a listed code only when it is (nearly) what was read: at most one letter differs, within the
        # repair's cost bound; else the letters stay and the reading is not valid (review item 3: VAT
        # became VIR)
        if differ > 1 or code_score(read) - code_score(best) > _MAX_COST:
            notes.append((f"{what}: {read!r} is no listed code (nearest {listed!r} scores too low)", True))
            continue
        rows[li][start: start + 3] = list(listed)
        for k in range(3):  # the state code is fixed: the repair must not change it
            keep = masked[li][start + k].copy()
            masked[li][start + k] = -np.inf
            masked[li][start + k, ALPHABET.index(rows[li][start + k])] = keep[ALPHABET.index(rows[li][start + k])]
    for li, start, end in _NAMES[fmt]:  # letters after the name's end ("<<" past the separator): reported, kept
        name = "".join(rows[li][start:end])
        sep = name.find("<<")
        stop = name.find("<<", sep + 2) if sep >= 0 else -1
        if stop > 0 and name[stop:].strip("<"):
            notes.append((f"name: letters after the name's end ({name[stop:].rstrip('<')!r}): low confidence", False))
    total = sum(float(masked[li][c, ALPHABET.index(ch)]) for li, row in enumerate(rows) for c, ch in enumerate(row))
    return rows, masked, total, notes


def _doc_number(fmt: str) -> set[tuple[int, int]]:
    """(line, col) of the document number (and its TD1 extension's start)."""
    return {(0, c) for c in range(5, 14)} if fmt == "TD1" else {(1, c) for c in range(0, 9)}


def _repair(fmt: str, rows: list[list[str]], masked: list[np.ndarray]) -> int:
    """Make failing check digits hold with the cheapest runner-up substitutions (in place); returns
    the number of characters changed. Bounds (review of issue #25, item 2): at most ``_MAX_CHANGES``
    characters and ``_MAX_COST`` score lost over the whole reading (not per round); a check digit is
    never changed to make its field pass (only the data it checks); look-alikes cost less except in
    the document number (the chip's access key: O/0 there is a guess, not a repair)."""
    lines = ["".join(r) for r in rows]
    checks = {chk for _, chk in _fields(fmt, lines)}
    docnum = _doc_number(fmt)
    changed, spent = 0, 0.0
    while changed < _MAX_CHANGES:
        bad = _failing(fmt, rows)
        if not bad:
            break
        fields = _fields(fmt, ["".join(r) for r in rows])
        positions = sorted({p for i in bad for p in fields[i][0]} - checks)

        def alts(p, k=3):
            li, c = p
            s = masked[li][c]
            order = [int(i) for i in np.argsort(-s)[: k + 1] if np.isfinite(s[i]) and ALPHABET[i] != rows[li][c]][:k]
            order += [ALPHABET.index(ch) for ch in _CONFUSIONS.get(rows[li][c], "")
                      if np.isfinite(s[ALPHABET.index(ch)]) and ALPHABET.index(ch) not in order]
            # look-alikes (O/0, I/1, B/8...) cost less: the readers confuse exactly those
            return [(float(s.max() - s[i]) * (0.3 if ALPHABET[i] in _CONFUSIONS.get(rows[li][c], "")
                                              and p not in docnum else 1.0), ALPHABET[i]) for i in order]

        budget = _MAX_COST - spent
        best = None
        for p in positions:  # single substitutions
            for cost, ch in alts(p):
                trial = [r[:] for r in rows]
                trial[p[0]][p[1]] = ch
                left = len(_failing(fmt, trial))
                if cost < budget and left < len(bad) and (best is None or (left, cost) < best[:2]):
                    best = (left, cost, [(p, ch)])
        if (best is None or best[0] > 0) and changed + 2 <= _MAX_CHANGES:  # pairs among the least certain
            def margin(p):
                a = alts(p, 1)
                return a[0][0] if a else 99.0

            weak = sorted(positions, key=margin)[:6]
            for p, q in itertools.combinations(weak, 2):
                for (c1, a), (c2, b) in itertools.product(alts(p), alts(q)):
                    trial = [r[:] for r in rows]
                    trial[p[0]][p[1]], trial[q[0]][q[1]] = a, b
                    left = len(_failing(fmt, trial))
                    if c1 + c2 < budget and left < len(bad) and (best is None or (left, c1 + c2) < best[:2]):
                        best = (left, c1 + c2, [(p, a), (q, b)])
        if best is None:
            break
        for (li, c), ch in best[2]:
            rows[li][c] = ch
            changed += 1
        spent += best[1]
    return changed


def _read_region(region, engine, *, fuse: bool = True) -> dict | None:
    """The fused reading of one rectified zone, or None when it holds no MRZ-like text."""
    from emrtd._mrz_fuse import greedy, line_cells

    probs = [engine.line_probs(s) for s in region.strips]
    lengths = (30,) if len(probs) == 3 else (44, 36)
    if len(probs) == 2:  # the document code tells TD3 (P) from TD2 (A, C, I); a visa (V) may be either
        head = greedy(probs[0])[:1]
        first = ALPHABET[head[0][0]] if head else ""
        lengths = (44,) if first == "P" else (36,) if first in ("A", "C", "I") else lengths
    cells = line_cells(region.strips, probs, lengths)
    if cells is None or max(c.foreign for c in cells) > 0.3:  # foreign script: no MRZ
        return None
    length = cells[0].length
    engine_scores = [c.engine_scores() for c in cells]
    if fuse:
        scores = []
        for e, c in zip(engine_scores, cells, strict=True):
            t = c.template_scores()
            # a line the recogniser read as (almost) all fillers where the templates see characters
            # is left to the templates
            seen = sum(1 for lab, _, _ in c.labels if lab != ALPHABET.index("<"))
            glyphs = int(np.sum(t.argmax(axis=1) != ALPHABET.index("<")))
            scores.append((e if seen >= 0.3 * glyphs else 0 * e) + TEMPLATE_WEIGHT * t)
    else:
        scores = engine_scores
    first = ALPHABET[int(np.argmax(np.where(_MASKS["P" if length == 44 else "I"], scores[0][0], -np.inf)))]
    fmt = {30: "TD1", 36: "MRVB" if first == "V" else "TD2", 44: "MRVA" if first == "V" else "TD3"}[length]
    rows, masked, total, notes = _decode(fmt, scores)
    repaired = _repair(fmt, rows, masked)
    lines = tuple("".join(r) for r in rows)
    _, found = check_mrz(list(lines))
    errors = tuple(f"{e.field}: {e}" for e in found) + tuple(m for m, fatal in notes if fatal)
    conf = float(np.mean([np.exp(min(0.0, e[c, ALPHABET.index(ch)])) if e[c].any() else 0.5
                          for e, ln in zip(engine_scores, lines, strict=True) for c, ch in enumerate(ln)]))
    if "<" not in "".join(lines) or conf < 0.3:
        return None
    return {"lines": lines, "valid": not errors, "errors": errors, "warnings": tuple(m for m, fatal in notes if not fatal),
            "confidence": conf, "format": fmt, "repaired": repaired, "score": total / sum(map(len, lines))}


def _read_zone_templates(region) -> dict | None:
    """The OCR-B template reader on the rectified zone (set on a page-sized margin, the scale it
    expects), or None when it finds nothing there."""
    from emrtd._mrz_ocr import read_mrz_image_templates

    zone = region.image
    bg = int(np.median(zone))
    page = np.vstack([np.full((max(0, 900 - zone.shape[0]), zone.shape[1]), bg, np.uint8), zone,
                      np.full((20, zone.shape[1]), bg, np.uint8)])
    try:
        r = read_mrz_image_templates(page)
    except MrzOcrError:
        return None
    mrz, errors = check_mrz(list(r.lines))
    found = tuple(f"{e.field}: {e}" for e in errors)
    if r.repaired > _MAX_CHANGES:  # a reading that needed more repair than the bound is not valid
        found += (f"repair: {r.repaired} characters changed (at most {_MAX_CHANGES})",)
    codes = {44: "PV", 36: "ACIV", 30: "ACI"}.get(len(r.lines[0]) if r.lines else 0, "")
    if r.lines and r.lines[0][:1] not in tuple(codes):  # the fused reader's document-code syntax holds here too
        found += (f"document_code: {r.lines[0][:1]!r} is no document code of a {len(r.lines[0])}-character line",)
    return {"lines": r.lines, "valid": not found, "errors": found,
            "confidence": r.confidence, "format": mrz.format if mrz else "", "repaired": r.repaired,
            "score": -99.0, "engine": "templates"}


_LAYOUTS = {(3, 30): "TD1", (2, 36): "TD2", (2, 44): "TD3"}


def _mrz_like(cand: dict | None) -> bool:
    """Whether a reading is MRZ-like enough to report as found (issue #25 item 1: never invent one):
    valid, or an MRZ layout (3 x 30, 2 x 36, 2 x 44) with '<' fillers ('<<') and all but one of its
    check digits right (at least two). Anything else - a poster's text read through the templates -
    is no MRZ."""
    if not cand:
        return False
    if cand["valid"]:
        return True
    lines = list(cand["lines"])
    fmt = _LAYOUTS.get((len(lines), len(lines[0]) if lines else 0))
    if fmt is None or any(len(ln) != len(lines[0]) for ln in lines) or "<<" not in "".join(lines):
        return False
    try:
        fields = _fields(fmt, lines)
        failing = len(_failing(fmt, [list(ln) for ln in lines]))
    except (IndexError, KeyError, ValueError):
        return False
    return failing <= 1 and len(fields) - failing >= 2


def _clip(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The zone's box within the image (its quadrilateral may reach past the edges)."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def read_mrz(image, *, engine=None, fuse: bool = True, fallback: bool = True,
             budget_s: float | None = None) -> MrzReading:
    """Find and read the MRZ in an image (path, PIL image or array). Raises :class:`MrzNotFoundError`
    when there is none, :class:`MrzOcrError` for input that is not an image, and
    ``MrzEngineError`` when the OCR models are missing.

    ``budget_s`` (a camera polled for a document, issue #25 review item 4): no reading and no second
    detector pass starts once the budget is spent, and the first zone that reads as nothing MRZ-like
    ends the search (a frame of other text is not read zone after zone)."""
    from emrtd._mrz_engine import default_engine
    from emrtd._mrz_locate import locate_mrz

    t0 = time.perf_counter()
    gray = _gray(image)
    if min(gray.shape) < 40:
        raise MrzNotFoundError(f"image too small ({gray.shape[1]}x{gray.shape[0]})")
    engine = engine or default_engine()
    deadline = None if budget_s is None else time.perf_counter() + budget_s  # the models' first load aside
    best, best_region = None, None

    def spent() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    def better(cand, reg):
        nonlocal best, best_region
        if _mrz_like(cand) and (best is None or (cand["valid"], cand["score"]) > (best["valid"], best["score"])):
            best, best_region = cand, reg
        return best is not None and best["valid"]

    try:
        for n, region in enumerate(locate_mrz(gray, engine, deadline=deadline)):
            if n and spent():  # the best zone is always read upright
                break
            # upright first; the templates, then the zone upside down, only while nothing is valid
            upright = _read_region(region, engine, fuse=fuse)
            if better(upright, region):
                break
            turned = region.rotated()
            # a page upside down reads as next to nothing upright: turn it before trying the templates
            order = [(_read_region, turned), (_read_zone_templates, region), (_read_zone_templates, turned)] \
                if upright is None or upright["confidence"] < 0.6 else \
                [(_read_zone_templates, region), (_read_region, turned), (_read_zone_templates, turned)]
            if deadline is not None:  # on a budget the upright zone's template reading first (the cheaper)
                order.sort(key=lambda o: not (o[0] is _read_zone_templates and o[1] is region))
            found = False
            for read, reg in order:
                if read is _read_zone_templates and not fallback:
                    continue
                if spent() and not (read is _read_zone_templates and reg is region):  # the templates always read
                    break
                cand = read(reg, engine, fuse=fuse) if read is _read_region else read(reg)
                if better(cand, reg):
                    found = True
                    break
            if found or (deadline is not None and best is None):
                break
    except MrzOcrError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime, OpenCV: the engine failed, named, never a reading
        from emrtd._mrz_engine import MrzEngineError

        raise MrzEngineError(f"the OCR engine failed: {type(e).__name__}") from e
    if best is None:
        raise MrzNotFoundError("no machine readable zone found")
    quad = tuple((float(x), float(y)) for x, y in best_region.quad)
    return MrzReading(best["lines"], best["valid"], round(best["confidence"], 4), best["format"], _clip(best_region.box, gray.shape),
                      quad, round((time.perf_counter() - t0) * 1000, 1), best["repaired"],
                      best.get("engine", "ppocr+templates"), best["errors"], best.get("warnings", ()))

"""The end-to-end demonstration (``smartborder demo``, what ``make demo`` runs).

1. machine check (``smartborder doctor``);
2. the back office on loopback (uvicorn, a fresh SQLite database in ``var/demo/data``, its key material in
   ``var/demo/data-keys``), its users and
   device credentials, a stolen document on the watchlist;
3. virtual passports and a Vietnamese chip ID card issued by the project's test PKI for travellers
   whose photos come from ../shared/data/faces/lfw-dev (or, without it, the two portraits bundled
   with scikit-image), plus a forged chip, a cloned chip, an expired and a watchlisted document;
4. enrolment of some travellers through the back office's enrolment API (face template, consent);
5. the day's sample through a gate (real emrtd reader code over the simulated reader, the real face
   engine, the local watchlist copy), the outbox synced to the back office;
6. a border guard resolves every exception through the API; the retention purge runs; the ledger
   verifies; a summary table and ``var/demo/report.html`` (chip photo beside live capture; 0600, it holds face
   images in clear). The simulator's virtual documents (``var/demo/sim``) and the report stay outside the
   data directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from smartborder._doctor import failed, run_checks
from smartborder.sim.backoffice import LoopbackServer

REPO = Path(__file__).resolve().parents[2]
SHARED_FACES = REPO.parent / "shared" / "data" / "faces" / "lfw-dev"
LIVENESS_SEED = 1  # the demo's gate challenges are a seeded sequence so that runs reproduce
KIOSK_CROP = 0.85  # the simulated kiosk camera's framing of a development photo
SHARED_FINGERS = REPO.parent / "shared" / "data" / "fingerprints" / "fvc2002_DB1"


@dataclass
class Case:
    id: str
    kind: str  # genuine | impostor | forged_chip | cloned_chip | expired | watchlisted | id_card
    expect: str  # "open" or "refer:<reason>"
    chip_photo: Path | bytes
    live: list[Any]  # image paths or arrays
    number: str
    surname: str
    given: str
    td1: bool = False
    faults: tuple[str, ...] = ()
    expiry: str | None = None
    enrol_finger: Path | None = None  # right index finger given at the kiosk
    gate_finger: Path | None = None  # the finger put on the gate's scanner
    result: dict[str, Any] = field(default_factory=dict)


def _cd(s: str) -> str:
    from emrtd import check_digit

    return check_digit(s)


def _mrz(c: Case, state: str, dob: str, expiry: str) -> str:
    if c.td1:
        num = c.number.ljust(9, "<")
        l1 = ("I<" + state + num + _cd(num)).ljust(30, "<")
        l2 = dob + _cd(dob) + "F" + expiry + _cd(expiry) + state
        l2 = l2.ljust(29, "<")
        l2 += _cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        l3 = (c.surname + "<<" + c.given.replace(" ", "<")).ljust(30, "<")[:30]
        return l1 + l2 + l3
    name = (c.surname + "<<" + c.given.replace(" ", "<")).ljust(39, "<")[:39]
    num, opt = c.number.ljust(9, "<"), "<" * 14
    l2 = num + _cd(num) + state + dob + _cd(dob) + "M" + expiry + _cd(expiry) + opt + _cd(opt)
    return f"P<{state}{name}" + l2 + _cd(l2[0:10] + l2[13:20] + l2[21:43])


def _enrolable(photos: list[Path]) -> bool:
    """Would the kiosk's camera see this person well enough for enrolment? (Most frames of the
    simulated traveller pass the enrolment quality gates; many LFW shots are open-mouthed or turned.)"""
    try:
        import itertools

        from biometrics.face import assess_quality
        from kiosk.sim import TravellerCamera

        camera = TravellerCamera(photos, fps=0, crop=KIOSK_CROP)
    except Exception:  # noqa: BLE001 - no usable face, or no face engine: not a kiosk candidate
        return False
    passed = sum(assess_quality(f, purpose="enrolment").passed for f in itertools.islice(camera.frames(), 8))
    camera.close()
    return passed >= 6


def _cases(echo) -> list[Case]:
    """Travellers with photos from the development faces, else the portraits bundled with scikit-image."""
    people = []
    if SHARED_FACES.is_dir():
        # every traveller here meets the kiosk's and the gate's cameras, whose quality gates want an
        # ICAO-like face: pick people whose rendered frames pass them (many LFW shots are open-mouthed
        # or turned away)
        for d in sorted(p for p in SHARED_FACES.iterdir() if p.is_dir()):
            imgs = sorted(d.glob("*.jpg"))
            if len(imgs) >= 4 and _enrolable(imgs[1:4]):
                people.append((d.name, imgs))
            if len(people) >= 8:
                break
    if len(people) < 3:
        echo("  ../shared/data/faces/lfw-dev is not available: a smaller demo on the two portraits bundled "
             "with scikit-image (astronaut, cameraman); no LFW travellers.")
        import numpy as np
        from skimage import data

        astro, cam = data.astronaut(), data.camera()
        from PIL import Image as _Image

        # the cameraman's head, framed like a gate camera would (crop, 2x)
        head = np.stack([cam[40:200, 160:320]] * 3, axis=-1)
        cam3 = np.asarray(_Image.fromarray(head).resize((320, 320), _Image.BICUBIC))
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray(astro).save(buf, format="PNG")
        photo = buf.getvalue()
        return [
            Case("T01", "genuine", "open", photo, [astro] * 3, "C0000001", "COLLINS", "EILEEN"),
            # another person (the cameraman) who also looks away: referred, by quality before matching
            Case("T02", "impostor", "refer", photo, [cam3] * 3, "C0000002", "COLLINS", "EILEEN"),
            Case("T03", "forged_chip", "refer:chip_pa_failed", photo, [astro] * 3, "C0000003", "COLLINS", "EILEEN",
                 faults=("bad_sod_signature",)),
            Case("T04", "cloned_chip", "refer:chip_cloned", photo, [astro] * 3, "C0000004", "COLLINS", "EILEEN",
                 faults=("clone_aa",)),
            Case("T05", "expired", "refer:document_expired", photo, [astro] * 3, "C0000005", "COLLINS", "EILEEN",
                 expiry="200101"),
            Case("T06", "watchlisted", "refer:watchlist_hit", photo, [astro] * 3, "C0000006", "COLLINS", "EILEEN"),
        ]
    vn = [("NGUYEN", "VAN AN"), ("TRAN", "THI BICH"), ("LE", "MINH DUC"), ("PHAM", "THU HA"), ("HOANG", "VAN NAM"),
          ("WANG", "FANG"), ("LI", "WEI"), ("ZHANG", "MIN")]
    cases = []
    for i, (_name, imgs) in enumerate(people):
        sur, giv = vn[i % len(vn)]
        cases.append(Case(f"T{i + 1:02d}", "genuine", "open", imgs[0], imgs[1:4], f"C{1000001 + i}", sur, giv,
                          td1=(i == 1)))
    # T01 shows only its data page (the gate OCRs the MRZ); T02 is a Vietnamese chip ID card read
    # through its QR code (number = last 9 digits of the ID number, expiry by law)
    cases[0].kind = "genuine_ocr"
    cases[1].kind, cases[1].number, cases[1].expiry = "id_card_qr", "090012345", "300315"
    a, b = people[0], people[2]
    # T03 and T04 enrolled their right index finger at the kiosk; at the gate T03 puts the same finger
    # on the scanner, T04 another one
    if SHARED_FINGERS.is_dir():
        cases[2].enrol_finger, cases[2].gate_finger = SHARED_FINGERS / "101_1.tif", SHARED_FINGERS / "101_2.tif"
        cases[3].enrol_finger, cases[3].gate_finger = SHARED_FINGERS / "102_1.tif", SHARED_FINGERS / "105_2.tif"
        cases[2].kind, cases[3].kind, cases[3].expect = "genuine_finger", "finger_mismatch", "refer:fingerprint_mismatch"
    n = len(cases)
    cases += [
        Case(f"T{n + 1:02d}", "impostor", "refer:face_mismatch", a[1][0], b[1][1:4], "C2000001", *vn[0]),
        Case(f"T{n + 2:02d}", "forged_chip", "refer:chip_pa_failed", a[1][0], a[1][1:4], "C2000002", *vn[0],
             faults=("bad_sod_signature",)),
        Case(f"T{n + 3:02d}", "cloned_chip", "refer:chip_cloned", b[1][0], b[1][1:4], "C2000003", *vn[2],
             faults=("clone_aa",)),
        Case(f"T{n + 4:02d}", "expired", "refer:document_expired", b[1][0], b[1][1:4], "C2000004", *vn[2],
             expiry="240101"),
        Case(f"T{n + 5:02d}", "watchlisted", "refer:watchlist_hit", a[1][0], a[1][1:4], "C2000005", *vn[0]),
        # someone holds the holder's printed photo up to the camera: it cannot blink or turn on request
        Case(f"T{n + 6:02d}", "photo_attack", "refer:liveness_failed", b[1][0], [b[1][1]], "C2000006", *vn[2]),
    ]
    return cases


def _load_rgb(x):
    import numpy as np
    from PIL import Image

    if isinstance(x, (str, Path)):
        with Image.open(x) as im:
            return np.asarray(im.convert("RGB"))
    return x


def _gate_framing(img):
    """The gate camera frames one person at arm's length: the centre of a development photo (news
    photos often show other people at the edges, which the gate rightly treats as tailgating)."""
    h, w = img.shape[:2]
    if h < 400 and w < 400:  # LFW-sized photos: keep the central 70 %
        c = 0.7
        img = img[int(h * (1 - c) / 2):int(h * (1 + c) / 2), int(w * (1 - c) / 2):int(w * (1 + c) / 2)]
    return img


def _png_b64(data: bytes | None) -> str:
    if not data:
        return ""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def run_demo(*, as_json: bool = False, workdir: str | Path = "var/demo") -> int:
    echo = (lambda *a, **k: None) if as_json else click.echo
    t_start = time.perf_counter()
    summary: dict[str, Any] = {"stages": {}}

    # 1. machine check -------------------------------------------------------------------------
    checks = run_checks(skip_models=False)
    bad = failed(checks)
    echo(f"[1/6] machine check: {len(checks) - len(bad)}/{len(checks)} ok")
    for c in bad:
        echo(f"      FAIL {c.group}/{c.name}: {c.detail}")
    summary["stages"]["doctor"] = {"ok": not bad, "failed": [c.name for c in bad]}
    hard = [c for c in bad if c.group in ("python", "model")]
    if hard:
        echo("      the demo needs the Python stack and the models: run `make setup`")
        return 1

    # 2. back office ---------------------------------------------------------------------------
    import httpx

    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    work = Path(workdir)
    if work.exists():
        import shutil

        shutil.rmtree(work)
    from privacy import FileKek
    from storage import private_dir

    # as deployed: the stores in the data directory, key material (the KEK file, the vaults' key stores)
    # in the key directory beside it, both 0700; the simulator's documents and the report outside both
    private_dir(work)
    (work / "sim").mkdir()
    settings = load_settings(environ={}, data_dir=work / "data")
    kek = FileKek.generate(Path(settings.key_dir) / "backoffice.kek")
    # the back office a deployment runs (the same composition as `backoffice serve`), on a fresh database
    db_path = settings.path("backoffice.db")
    app = build_backoffice(settings, db_path=db_path, secret_key="demo-" + base64.b16encode(os.urandom(16)).decode(),
                           kek_file=kek.path, argon2_time_cost=1, argon2_memory_kib=8192)
    auth = app.state.ctx.auth
    pw = "demo-password-" + base64.b16encode(os.urandom(6)).decode()
    for user, role in (("guard", "border_guard"), ("supervisor", "supervisor"), ("privacy", "privacy_officer"),
                       ("admin", "admin")):
        auth.create_user(user, pw, role, display_name=user)
    _, gate_token = auth.issue_device("gate-01", "gate", "Gate 1", "Bắc Luân I entry")
    _, kiosk_token = auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Bắc Luân I hall")
    server = LoopbackServer(app)
    server.start()
    http = httpx.Client(base_url=server.url, timeout=30)

    def token(user: str) -> dict[str, str]:
        r = http.post("/api/v1/auth/token", json={"username": user, "password": pw})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    sup, guard, priv = token("supervisor"), token("guard"), token("privacy")
    echo(f"[2/6] back office on {server.url} (database {db_path})")
    try:
        return _run(echo, summary, work, server, http, sup, guard, priv, gate_token, kiosk_token, as_json, t_start)
    except Exception:  # noqa: BLE001 - the demo reports what broke instead of dying silently
        import traceback

        click.echo("demo failed:\n" + traceback.format_exc(), err=True)
        return 1
    finally:
        http.close()
        server.stop()


def _run(echo, summary, work, server, http, sup, guard, priv, gate_token, kiosk_token, as_json, t_start) -> int:
    import emrtd
    from emrtd.sim import IssuerPki, issue_document
    from smartborder.compose.gate import build_gate
    from smartborder.sim.gate import SimStage, SimTraveller, run_sim, sim_config

    # 3. documents -----------------------------------------------------------------------------
    cases = _cases(echo)
    pki = IssuerPki.make("VN")
    today = dt.date.today()
    valid_to = (today + dt.timedelta(days=5 * 365)).strftime("%y%m%d")
    travellers, docs = [], {}
    from emrtd import VnIdQr, encode_vn_id_qr, render_mrz_image

    for c in cases:
        mrz = _mrz(c, "VNM", "900315", c.expiry or valid_to)
        photo = c.chip_photo
        if isinstance(photo, Path):  # the passport photo shows the holder alone (ICAO portrait)
            buf = io.BytesIO()
            from PIL import Image

            Image.fromarray(_gate_framing(_load_rgb(photo))).save(buf, format="PNG")
            photo = buf.getvalue()
        doc = issue_document(mrz, photo, faults=c.faults, pki=pki)
        docs[c.id] = doc
        doc_dir = doc.save(work / "sim" / "docs" / c.id)
        frames = []
        for k, img in enumerate(c.live):
            p = work / "sim" / "frames" / c.id / f"{k}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            from PIL import Image

            Image.fromarray(_gate_framing(_load_rgb(img))).save(p)
            frames.append(p)
        page = qr = None
        if c.kind == "genuine_ocr":
            from PIL import Image

            page = work / "sim" / "pages" / f"{c.id}.png"
            page.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(c.chip_photo if not isinstance(c.chip_photo, bytes) else io.BytesIO(c.chip_photo)) as ph:
                render_mrz_image(emrtd.parse_mrz(mrz).lines(), photo=ph,
                                 header=("SOCIALIST REPUBLIC OF VIET NAM", "PASSPORT", f"{c.surname} {c.given}")).save(page)
        elif c.kind == "id_card_qr":
            qr = encode_vn_id_qr(VnIdQr("001" + c.number, "", f"{c.surname} {c.given}", dt.date(1990, 3, 15), "Nữ",
                                        "Móng Cái, Quảng Ninh", dt.date(2021, 4, 20)))
        fingers = (c.gate_finger,) if c.gate_finger else ()
        travellers.append(SimTraveller(c.id, doc_dir, tuple(frames), fingers, c.expect, page, qr,
                                       "sequence" if c.kind == "photo_attack" or not SHARED_FACES.is_dir()
                                       else "traveller"))
    (work / "sim" / "trust").mkdir(exist_ok=True)
    (work / "sim" / "trust" / "csca.der").write_bytes(doc.csca_certificate)
    (work / "sim" / "trust" / "csca.crl").write_bytes(doc.crl)  # no DSC revoked: its revocation status is known
    (work / "sim" / "travellers.json").write_text(json.dumps([
        {"id": t.id, "document": str(t.document.relative_to(work / "sim")),
         "frames": [str(f.relative_to(work / "sim")) for f in t.frames], "expect": t.expect,
         **({"fingers": [str(f) for f in t.fingers]} if t.fingers else {}),
         **({"page": str(t.page.relative_to(work / "sim"))} if t.page else {}), **({"qr": t.qr} if t.qr else {}),
         "camera": t.camera}
        for t in travellers],
        indent=1))
    # the lane: the active challenge where a rendered traveller can follow it (seeded so runs reproduce);
    # without the development faces the travellers are still photographs that cannot, and the lane says so
    active = SHARED_FACES.is_dir()
    (work / "sim" / "gate.toml").write_text(
        '# the demo gate\'s lane (smartborder gate run --sim reads it as a deployed gate reads its [gate])\n'
        '[gate]\ntrust = "trust"\n'
        + (f'liveness = "active"\nliveness_seed = {LIVENESS_SEED}\n' if active else
           '# explicit relaxation: the smaller demo\'s travellers are photographs, no one to follow a challenge\n'
           'liveness = "off"\n'))
    watch = next(c for c in cases if c.kind == "watchlisted")
    r = http.post("/api/v1/watchlist/documents", headers=sup,
                  json={"document_number": watch.number, "issuing_state": "VNM", "reason": "stolen"})
    r.raise_for_status()
    feed = http.get("/api/v1/watchlist/changes", params={"since": 0},
                    headers={"Authorization": f"Bearer {gate_token}"}).json()
    # the same feed, for `smartborder gate run --sim var/demo/sim` without a back office
    (work / "sim" / "watchlist.json").write_text(json.dumps({"version": feed["version"], "changes": feed["changes"]}))
    echo(f"[3/6] issued {len(cases)} virtual documents ({sum(c.td1 for c in cases)} chip ID card) with the test "
         f"PKI; 1 document on the watchlist")

    # 4. enrolment -----------------------------------------------------------------------------
    trust = emrtd.TrustStore.from_path(work / "sim" / "trust")
    to_enrol = [c for c in cases if c.enrol_finger] or [c for c in cases if c.kind.startswith("genuine")][:1]
    enrolled = _enrol(echo, work, server.url, kiosk_token, to_enrol, docs, trust)
    summary["stages"]["enrolment"] = enrolled
    # what the kiosk enrolled, for `gate run --sim` (its back office enrols the same images again)
    (work / "sim" / "enrolments.json").write_text(json.dumps([
        {"document": {"document_number": c.number, "issuing_state": "VNM", "document_type": "I" if c.td1 else "P",
                      "surname": c.surname, "given_names": c.given},
         "photo": str(c.chip_photo), "fingers": [{"position": 2, "image": str(c.enrol_finger)}]}
        for c in to_enrol if c.enrol_finger and isinstance(c.chip_photo, Path)], indent=1))

    # 5. the gate ------------------------------------------------------------------------------
    # the gate a deployment runs (smartborder.compose.gate), its lane from sim/gate.toml, on simulated devices
    config = sim_config(work / "sim", backoffice_url=server.url, token=gate_token, db_path=work / "data" / "gate.db",
                        data_dir=work / "data", key_dir=work / "data-keys")
    stage = SimStage()
    gate = build_gate(config, stage.devices())
    try:
        first = gate.sync()
        echo(f"[4/6] gate-01: watchlist copy version {first.watchlist_version}; serving {len(travellers)} travellers")
        t0 = time.perf_counter()
        results = run_sim(gate, stage, travellers, sync_every=len(travellers) + 1)
        gate_s = time.perf_counter() - t0
        report = gate.sync()
    finally:
        gate.close()
    for c, row in zip(cases, results, strict=True):
        c.result = row
    rows_ok = sum(r["as_expected"] for r in results)
    echo(f"      {'traveller':<10} {'case':<16} {'read':<5} {'decision':<8} {'reasons':<28} as expected")
    for c in cases:
        echo(f"      {c.id:<10} {c.kind:<16} {c.result.get('document_source') or '-':<5} {c.result['outcome']:<8} "
             f"{', '.join(c.result['reasons']) or '-':<28} {'yes' if c.result['as_expected'] else 'NO'}")
    echo(f"      {rows_ok}/{len(results)} as expected; outbox delivered {report.delivered}, pending {report.pending}, "
         f"refused {report.rejected}")
    summary["stages"]["gate"] = {"travellers": len(results), "as_expected": rows_ok, "seconds": round(gate_s, 2),
                                 "outbox_pending": report.pending, "outbox_delivered": report.delivered,
                                 "outbox_rejected": report.rejected, "results": results}

    # 6. guard review, purge, ledger -----------------------------------------------------------
    answer = http.get("/api/v1/exceptions", headers=guard, params={"limit": 100})
    if answer.status_code != 200:  # an unreadable queue is a failed stage, not an empty one
        raise RuntimeError(f"the guard's exception queue answered HTTP {answer.status_code}: {answer.text[:300]}")
    queue = answer.json()
    decided, shots = 0, []
    for item in queue.get("items", []):
        detail = http.get(f"/api/v1/exceptions/{item['id']}", headers=guard).json()
        reasons = detail.get("reason_codes", [])
        decision = "refuse"  # every referral in this sample is a real problem; "admit"/"refer" also exist
        live = http.get(f"/api/v1/exceptions/{item['id']}/images/live", headers=guard)
        chip = http.get(f"/api/v1/exceptions/{item['id']}/images/chip", headers=guard)
        shots.append({"id": item["id"], "reasons": reasons,
                      "live": live.content if live.status_code == 200 else None,
                      "chip": chip.content if chip.status_code == 200 else None,
                      "document_number": (detail.get("document") or {}).get("document_number")})
        r = http.post(f"/api/v1/exceptions/{item['id']}/decision", headers=guard,
                      json={"decision": decision, "notes": "demo review"})
        decided += r.status_code == 200
    purge = http.post("/api/v1/privacy/purge", headers=priv, params={"dry_run": "false"})
    ledger = http.get("/api/v1/privacy/ledger/verify", headers=priv)
    ledger_ok = ledger.status_code == 200 and bool(ledger.json().get("ok", ledger.json().get("valid")))
    echo(f"[5/6] guard resolved {decided}/{len(queue.get('items', []))} exceptions; purge HTTP {purge.status_code}; "
         f"ledger verifies: {ledger_ok}")
    summary["stages"]["review"] = {"exceptions": len(queue.get("items", [])), "resolved": decided,
                                   "purge": purge.json() if purge.status_code == 200 else purge.status_code,
                                   "ledger_ok": ledger_ok}

    out = work / "report.html"
    _write_report(out, cases, shots, summary)
    total_s = time.perf_counter() - t_start
    summary["seconds"] = round(total_s, 1)
    summary["report"] = str(out)
    # every referral reached the guard's queue as one exception (the kiosk posts none) and was decided there
    referred = sum(r["outcome"] != "open" for r in results)
    ok = (rows_ok == len(results) and report.pending == 0 and report.rejected == 0 and ledger_ok
          and decided == len(queue.get("items", [])) == referred)
    summary["ok"] = ok
    echo(f"[6/6] report: {out}  ({total_s:.0f} s in all) -> {'OK' if ok else 'SOME CHECKS FAILED'}")
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    return 0 if ok else 1


def _enrol(echo, work: Path, url: str, kiosk_token: str, cases: list[Case], docs: dict[str, Any],
           trust: Any) -> dict[str, Any]:
    """Enrol travellers through the kiosk's enrolment workflow, headless: the chip read (PA against
    the trust store), consent, face capture with quality gates and the real liveness challenges
    (a simulated traveller re-rendered from their photo follows the instructions), four flat
    fingers, review, then the encrypted outbox delivers the record to the back office."""
    from devicelink import BackofficeClient
    from devices import ImageFingerprintScanner
    from devices.sim import FixedMrzSource, SimulatedReader
    from enrollment import FLAT_PLAN, EnrolmentWorkflow, Policy, enrol_headless
    from kiosk import build_engines
    from smartborder.compose.kiosk import KioskConfig, _outbox

    engines = build_engines(liveness="auto")
    # the kiosk's sealed outbox as its composition builds it (data/kiosk/outbox.db, its vault and KEK in
    # the key directory)
    outbox = _outbox(KioskConfig(trust_path=None, env="dev", data_dir=work / "data", key_dir=work / "data-keys"))
    client = BackofficeClient(url, kiosk_token)
    done, statuses = 0, []
    if not SHARED_FINGERS.is_dir():
        echo("      kiosk enrolment skipped: no fingerprint images (../shared/data/fingerprints) for the scanner")
        return {"enrolled": 0, "statuses": ["skipped: no fingerprint images"]}
    for c in cases:
        photos = [p for p in [c.chip_photo, *c.live] if isinstance(p, Path)]
        if not photos:  # the smaller demo: the frames written for the gate
            photos = sorted((work / "sim" / "frames" / c.id).glob("*.png"))
        try:
            from kiosk.sim import TravellerCamera  # the simulated traveller (renders + follows instructions)

            # the camera's own clock (the i-th frame at i / 15 s), not the wall clock: the traveller's blink
            # and turn are sampled every 67 ms however slow the machine, so the demo's outcome does not
            # depend on its speed (at 15 fps real time, a slower CI machine referred an enrolment as FTA)
            camera = TravellerCamera(photos, fps=0, crop=KIOSK_CROP)
        except Exception as e:  # noqa: BLE001 - no usable face among the photos: reported, not fatal
            statuses.append(f"{c.id}: camera {type(e).__name__}")
            continue
        reader = SimulatedReader(docs[c.id])
        scanner = ImageFingerprintScanner([c.enrol_finger] if c.enrol_finger else
                                          sorted(SHARED_FINGERS.glob("11[0-9]_1.tif"))[:4], dpi=500)
        wf = EnrolmentWorkflow(engines, outbox, client, reader=reader, mrz_source=FixedMrzSource(docs[c.id].mrz),
                               trust=trust, policy=Policy(finger_plan=FLAT_PLAN))
        result = enrol_headless(wf, camera, scanner, language=("vi", "zh", "en")[done % 3])
        camera.close()
        statuses.append(f"{c.id}: {result.backoffice_status or result.outcome.value}"
                        + (f" ({result.reason_code})" if result.reason_code else ""))
        done += result.backoffice_status in ("accepted", "duplicate_suspected")
    echo(f"      enrolled {done}/{len(cases)} travellers through the kiosk workflow, headless "
         f"({'; '.join(statuses)})")
    return {"enrolled": done, "statuses": statuses}


def _write_report(path: Path, cases, shots, summary) -> None:
    by_doc = {s["document_number"]: s for s in shots}
    rows = []
    for c in cases:
        shot = by_doc.get(c.number) if c.result.get("outcome") == "refer" else None
        imgs = ""
        if shot:
            imgs = "".join(f'<figure><img src="data:image/png;base64,{_png_b64(shot[k])}" height="160">'
                           f"<figcaption>{label}</figcaption></figure>"
                           for k, label in (("chip", "chip photo (DG2)"), ("live", "live capture")) if shot[k])
        rows.append(f"<tr><td>{html.escape(c.id)}</td><td>{html.escape(c.kind)}</td>"
                    f"<td class='{c.result.get('outcome')}'>{html.escape(str(c.result.get('outcome')))}</td>"
                    f"<td>{html.escape(', '.join(c.result.get('reasons', [])) or '-')}</td>"
                    f"<td>{'yes' if c.result.get('as_expected') else 'NO'}</td>"
                    f"<td>{html.escape(json.dumps(c.result.get('timings_ms', {})))}</td><td class='ev'>{imgs}</td></tr>")
    stages = html.escape(json.dumps({k: v for k, v in summary["stages"].items() if k != "gate"}, indent=1,
                                    default=str))
    # the report shows personal images in clear: readable by its owner only (0600, in a 0700 directory)
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"""<!doctype html><html lang="en"><meta charset="utf-8"><title>Smart border demo</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #999;padding:4px;vertical-align:top}}
table{{border-collapse:collapse}}.open{{color:#060}}.refer{{color:#a00}}figure{{display:inline-block;margin:4px}}td.ev{{white-space:nowrap}}.warn{{background:#fee;border:1px solid #a00;padding:.5em}}</style>
<h1>Bắc Luân I e-gate demonstration</h1><p>{html.escape(dt.datetime.now().isoformat(timespec='seconds'))}</p>
<p class="warn"><strong>Personal data.</strong> This report holds face images (chip photos and live captures) in
clear, outside the encrypted stores and their retention rules. It is written readable by its owner only (0600);
delete it when you are done with it (<code>rm {html.escape(str(path))}</code>). The images here are development
test material, never travellers' data.</p>
<table><tr><th>traveller</th><th>case</th><th>decision</th><th>reasons</th><th>as expected</th>
<th>timings (ms)</th><th>referral evidence</th></tr>{''.join(rows)}</table>
<h2>Stages</h2><pre>{stages}</pre></html>""")

"""An e-gate on real devices: a PC/SC chip reader (pyscard), an OpenCV camera for the face, a
second OpenCV camera over the page reader's glass for the MRZ (OCR), a serial door controller.

The loop serves one traveller at a time; a background thread syncs with the back office every
``sync_interval_s`` (outbox delivery, watchlist refresh) and never blocks a decision.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("smartborder.gate")


class _PageCamera:
    """``capture_page()`` from an OpenCV camera looking at the page reader's glass."""

    def __init__(self, camera) -> None:
        self.camera = camera

    def capture_page(self):
        return next(iter(self.camera.frames()))


def run_real_gate(*, trust_path, db_path, backoffice_url, token, gate_id, direction, camera_index,
                  page_camera_index: int | None = 1, door_port: str | None = None,
                  sync_interval_s: float = 30.0, max_travellers: int | None = None) -> None:
    import emrtd
    from devices import LoggingDoor, NoCardError, OpenCvCamera, PcscReader, SerialDoor
    from gate import (
        ChipStep,
        DocumentStep,
        FaceEngine,
        FaceStep,
        FingerOutcome,
        GateSteps,
        GateStore,
        GateWorkflow,
        HttpBackofficeClient,
        LocalWatchlist,
        sync_once,
    )

    if trust_path is None:
        raise SystemExit("a real gate needs --trust (CSCA certificates or a Master List)")
    trust = emrtd.TrustStore.from_path(trust_path)
    from smartborder._gate_sim import gate_sealer

    store = GateStore(db_path, sealer=gate_sealer(db_path))
    reader = PcscReader()
    camera = OpenCvCamera(camera_index)
    page = _PageCamera(OpenCvCamera(page_camera_index)) if page_camera_index is not None else None
    door = SerialDoor(door_port) if door_port else LoggingDoor(gate_id)
    steps = GateSteps(document=DocumentStep(page_camera=page), chip=ChipStep(reader, trust),
                      face=FaceStep(camera, FaceEngine.default()), finger=lambda p: FingerOutcome(enrolled=False),
                      watchlist=LocalWatchlist(store))
    wf = GateWorkflow(steps, door, store, gate_id=gate_id, direction=direction)
    stop = threading.Event()
    if backoffice_url and token:
        client = HttpBackofficeClient(backoffice_url, token)

        def syncer() -> None:
            while not stop.is_set():
                report = sync_once(store, client)
                log.info("sync reachable=%s pending=%d version=%d", report.reachable, report.pending,
                         report.watchlist_version)
                stop.wait(sync_interval_s)

        threading.Thread(target=syncer, name="gate-sync", daemon=True).start()
    served = 0
    try:
        while max_travellers is None or served < max_travellers:
            try:
                reader.wait_for_card(60.0)
            except NoCardError:
                continue
            result = wf.process()
            served += 1
            print(f"{result.transaction_id} {result.decision.outcome} {','.join(map(str, result.decision.reasons))}")
            while getattr(reader, "card_present", False):  # wait for the document to be taken
                time.sleep(0.2)
    finally:
        stop.set()
        wf.close()

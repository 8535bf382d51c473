"""Device ports: simulators behave like the hardware they stand for; real adapters fail with named errors."""

import time

import numpy as np
import pytest
from PIL import Image

import emrtd
from devices import (
    CLOSED,
    OPEN,
    CameraError,
    CardRemovedError,
    ChipReader,
    DeviceError,
    DoorError,
    FingerCapture,
    GpioDoor,
    ImageFingerprintScanner,
    MrzSourceError,
    NoCardError,
    OpenCvCamera,
    PcscReader,
    ReaderError,
    SerialDoor,
)
from devices.sim import FixedMrzSource, ImageSequenceCamera, LoggingDoor, SimulatedReader
from emrtd.sim import issue_document
from tests.conftest import shared_path

MRZ = "P<VNMNGUYEN<<VAN<DUC<<<<<<<<<<<<<<<<<<<<<<<<C1234567<0VNM8503149M3411252<<<<<<<<<<<<<<00"


def _images(tmp_path, n=3, size=(64, 48)):
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}.png"
        Image.new("RGB", size, (40 * i, 100, 200)).save(p)
        paths.append(p)
    return paths


def test_image_sequence_camera_plays_loops_and_closes(tmp_path):
    cam = ImageSequenceCamera(_images(tmp_path), fps=0)
    frames = cam.frames()
    got = [next(frames) for _ in range(5)]
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for f in got)
    assert got[0][0, 0, 0] == 0 and got[1][0, 0, 0] == 40 and got[3][0, 0, 0] == 0  # loops
    cam.close()
    assert next(frames, None) is None
    with pytest.raises(CameraError):
        next(cam.frames())


def test_image_sequence_camera_paces_crops_holds_and_sways(tmp_path):
    cam = ImageSequenceCamera(_images(tmp_path, 2, (100, 100)), fps=50, hold=3, crop=0.5, sway=0.2, sway_period=4)
    t0 = time.monotonic()
    frames = [f for _, f in zip(range(6), cam.frames(), strict=False)]
    assert time.monotonic() - t0 >= 0.08  # 6 frames at 50 fps
    assert frames[0].shape == (50, 50, 3)
    assert [int(f[25, 25, 0]) for f in frames] == [0, 0, 0, 40, 40, 40]  # each image held 3 frames
    cam.close()


def test_camera_errors(tmp_path):
    with pytest.raises(CameraError):
        ImageSequenceCamera([tmp_path / "missing.png"])
    with pytest.raises(CameraError):
        ImageSequenceCamera(tmp_path)  # an empty directory
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(CameraError):
        next(ImageSequenceCamera([tmp_path / "bad.png"]).frames())
    with pytest.raises(CameraError):
        next(OpenCvCamera(97).frames())  # no such device


def test_simulated_reader_carries_apdus_and_reports_card_events():
    doc = issue_document(MRZ, Image.new("RGB", (300, 400), (180, 150, 130)), aa=None, ca=False)
    reader = SimulatedReader()
    assert isinstance(reader, ChipReader)
    with pytest.raises(NoCardError):
        reader.wait_for_card(timeout=0.05)
    reader.present(doc)
    reader.wait_for_card(timeout=0.05)
    result = emrtd.read_document(reader, doc.access_key, files=["DG1"], passive_authentication=False)
    assert result.files["DG1"] and reader.apdu_count > 0
    reader.remove_after(2)
    with pytest.raises(Exception) as e:
        emrtd.read_document(reader, doc.access_key, files=["DG1"], passive_authentication=False)
    chain = [e.value, e.value.__cause__, e.value.__context__]
    assert any(isinstance(x, CardRemovedError) for x in chain)
    assert not reader.card_present
    reader.present(doc)
    reader.fail_after(0)
    with pytest.raises(ReaderError):
        reader.transmit(b"\x00\xa4\x04\x0c")


def test_pcsc_reader_without_a_reader_is_a_named_error():
    with pytest.raises(DeviceError):
        PcscReader("no-such-reader-xyz").wait_for_card(timeout=0.2)
    with pytest.raises(NoCardError):
        PcscReader().transmit(b"\x00\xa4\x00\x00")


def test_fingerprint_scanner_flat_and_slap():
    paths = sorted(shared_path("fingerprints", "fvc2000_DB2").glob("*.tif"))[:5]
    flat = ImageFingerprintScanner(paths, dpi=500)
    a, b = flat.capture(), flat.capture()
    assert isinstance(a, FingerCapture) and a.kind == "flat" and a.dpi == 500 and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, b.image)
    assert "array" not in repr(a)  # the image is never printed
    slap = ImageFingerprintScanner(paths, slap=True).capture()
    assert slap.kind == "slap" and slap.image.ndim == 2
    assert slap.image.shape[1] > 4 * 200 and (slap.image == 255).mean() > 0.2  # four tips on a white platen


def test_doors(tmp_path):
    door = LoggingDoor()
    door.open()
    assert door.state == OPEN
    door.close()
    assert door.state == CLOSED and [e for _, e in door.events] == ["open", "close"]
    gpio = tmp_path / "gpio"
    (gpio / "gpio17").mkdir(parents=True)
    (gpio / "export").write_text("")
    (gpio / "gpio17" / "value").write_text("0")
    g = GpioDoor(17, root=gpio)
    g.open()
    assert (gpio / "gpio17" / "direction").read_text() == "out" and g.state == OPEN
    g.close()
    assert (gpio / "gpio17" / "value").read_text() == "0" and g.state == CLOSED
    with pytest.raises(DoorError):
        GpioDoor(18, root=tmp_path / "nowhere").open()
    with pytest.raises(DoorError):
        SerialDoor("/dev/ttyNOPE0").open()  # pyserial missing, or no such port


def test_mrz_source():
    src = FixedMrzSource()
    with pytest.raises(MrzSourceError):
        src.read_mrz()
    src.place(MRZ[:44] + "\n" + MRZ[44:])
    assert src.read_mrz() == MRZ

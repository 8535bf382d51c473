"""OpenCvCamera fed from a video file, and the frame clock (``frame_time``) of every camera adapter."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from devices import CameraError, OpenCvCamera
from devices.sim import ImageSequenceCamera

cv2 = pytest.importorskip("cv2")

FPS, N, SIZE = 12.0, 18, (64, 48)


def _video(path, fps=FPS, n=N, size=SIZE):
    """An MJPG .avi whose frame i is a flat grey of level 10 * i (red channel 255 - 10 * i)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG/.avi here"
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 10 * i, np.uint8)
        frame[..., 2] = 255 - 10 * i  # BGR: red last
        writer.write(frame)
    writer.release()
    return path


def test_a_video_file_plays_as_a_camera_with_its_frame_clock(tmp_path):
    cam = OpenCvCamera(_video(tmp_path / "clip.avi"))
    assert cam.is_file and cam.frame_time is None
    frames, times = [], []
    for frame in cam.frames():
        frames.append(frame)
        times.append(cam.frame_time)
    cam.close()
    assert len(frames) == N  # the iterator ends at the end of the file, no error
    assert cam.fps == pytest.approx(FPS)
    assert all(f.shape == (SIZE[1], SIZE[0], 3) and f.dtype == np.uint8 for f in frames)
    # RGB order and the frame sequence survive (MJPG is lossy: a few levels of tolerance)
    assert [int(round(f[..., 1].mean() / 10)) for f in frames] == list(range(N))
    assert abs(int(frames[0][0, 0, 0]) - 255) < 8 and abs(int(frames[0][0, 0, 2])) < 8
    assert times[0] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(np.diff(times), 1 / FPS, atol=1e-3)


def test_a_video_file_is_played_faster_than_real_time_unless_asked(tmp_path):
    path = _video(tmp_path / "clip.avi", fps=10.0, n=6)
    t0 = time.monotonic()
    assert len(list(OpenCvCamera(path).frames())) == 6
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    cam = OpenCvCamera(path, realtime=True)
    times = [cam.frame_time for _ in cam.frames()]
    assert time.monotonic() - t0 >= 0.45  # 6 frames at 10 fps: the last one 0.5 s after the first
    assert fast < 0.45 and times[-1] == pytest.approx(0.5, abs=1e-3)


def test_a_path_object_or_a_string_both_open_the_file(tmp_path):
    path = _video(tmp_path / "clip.avi", n=3)
    assert len(list(OpenCvCamera(str(path)).frames())) == 3
    assert OpenCvCamera(path).open().fps == pytest.approx(FPS)


def test_an_unreadable_video_file_is_a_camera_error(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(CameraError, match="bad.avi"):
        next(OpenCvCamera(bad).frames())
    with pytest.raises(CameraError):
        next(OpenCvCamera(str(tmp_path / "missing.avi")).frames())


def _images(tmp_path, n=3):
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}.png"
        Image.new("RGB", (16, 12), (40 * i, 0, 0)).save(p)
        paths.append(p)
    return paths


def test_image_sequence_frame_clock_follows_the_frame_rate_not_the_wall_clock(tmp_path):
    cam = ImageSequenceCamera(_images(tmp_path), fps=25)
    assert cam.frame_time is None
    times = [cam.frame_time for _, _ in zip(range(5), cam.frames(), strict=False)]
    assert times == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    times = [cam.frame_time for _, _ in zip(range(2), cam.frames(), strict=False)]  # a new frames() goes on
    assert times == pytest.approx([0.20, 0.24])


def test_image_sequence_without_a_rate_uses_the_nominal_15_fps(tmp_path):
    cam = ImageSequenceCamera(_images(tmp_path), fps=0, hold=2)
    times = [cam.frame_time for _, _ in zip(range(7), cam.frames(), strict=False)]  # loops, holds
    assert times == pytest.approx([i / 15.0 for i in range(7)])

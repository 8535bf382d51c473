"""SerialDoor against a fake door controller on a pseudo-terminal, and pyserial URLs."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from devices import CLOSED, OPEN, DoorError, SerialDoor
from tests.devices.fake_door import FakeDoorController

pytest.importorskip("serial", reason="SerialDoor needs pyserial")


def test_open_then_close_is_acknowledged():
    with FakeDoorController() as ctl:
        door = SerialDoor(ctl.port, timeout=1.0)
        door.open()
        assert door.state == OPEN and ctl.state == "open"
        door.close()
        assert door.state == CLOSED and ctl.state == "closed"
        assert ctl.commands == ["OPEN", "CLOSE"]
        door.release()


def test_an_err_answer_is_a_door_error_and_the_door_stays_closed():
    with FakeDoorController(answer=b"ERR jammed\n") as ctl:
        door = SerialDoor(ctl.port, timeout=1.0)
        with pytest.raises(DoorError, match="ERR jammed"):
            door.open()
        assert door.state == CLOSED and ctl.commands == ["OPEN"]
        door.release()


def test_a_silent_controller_times_out_instead_of_hanging():
    with FakeDoorController(answer=None) as ctl:
        door = SerialDoor(ctl.port, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(DoorError, match="did not answer"):
            door.open()
        assert time.monotonic() - t0 < 2.0
        assert door.state == CLOSED and ctl.wait_for(1) and ctl.commands == ["OPEN"]
        door.release()


def test_a_dribbling_controller_is_bounded_by_the_timeout_in_total():
    stop = threading.Event()

    def dribble(command):  # one byte every 0.1 s for 3 s, never a full line
        def run():
            for _ in range(30):
                if stop.wait(0.1):
                    return
                os.write(ctl._master, b".")

        threading.Thread(target=run, daemon=True).start()
        return None

    with FakeDoorController(answer=dribble) as ctl:
        door = SerialDoor(ctl.port, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(DoorError):
            door.open()
        assert time.monotonic() - t0 < 1.5 and door.state == CLOSED
        stop.set()
        door.release()


def test_the_door_recovers_once_the_controller_answers_again():
    with FakeDoorController(answer=None) as ctl:
        door = SerialDoor(ctl.port, timeout=0.3)
        with pytest.raises(DoorError):
            door.open()  # no answer
        ctl.answer = b"ERR\n"
        with pytest.raises(DoorError, match="ERR"):
            door.open()
        ctl.answer = lambda c: b"OK\n"
        door.open()
        assert door.state == OPEN and ctl.commands == ["OPEN", "OPEN", "OPEN"]
        door.release()


def test_a_stale_ack_waiting_on_the_line_is_discarded():
    with FakeDoorController(answer=None) as ctl:
        door = SerialDoor(ctl.port, timeout=0.3)
        with pytest.raises(DoorError):
            door.open()
        os.write(ctl._master, b"OK\n")  # the controller acknowledges too late
        time.sleep(0.1)
        with pytest.raises(DoorError, match="did not answer"):
            door.open()  # the stale OK must not count for this command
        assert door.state == CLOSED
        door.release()


def test_a_nonexistent_port_is_a_door_error():
    with pytest.raises(DoorError, match="cannot open serial port"):
        SerialDoor("/dev/ttyNOPE0").open()
    with pytest.raises(DoorError, match="cannot open serial port"):
        SerialDoor("nosuchscheme://x").open()


def test_loop_url_without_ack():
    door = SerialDoor("loop://", ack=None)
    door.open()
    assert door.state == OPEN
    door.release()
    echo = SerialDoor("loop://", timeout=0.2)  # a loop echoes the command back: not an acknowledgement
    with pytest.raises(DoorError, match="answered b'OPEN'"):
        echo.open()
    echo.release()


def test_socket_url():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got = []

    def controller():
        conn, _ = server.accept()
        with conn, conn.makefile("rwb", buffering=0) as f:
            for line in f:
                got.append(line.strip().decode())
                f.write(b"OK\n")

    t = threading.Thread(target=controller, daemon=True)
    t.start()
    door = SerialDoor(f"socket://127.0.0.1:{port}", timeout=1.0)
    door.open()
    door.close()
    door.release()
    t.join(timeout=2)
    server.close()
    assert got == ["OPEN", "CLOSE"] and door.state == CLOSED


def test_the_fake_controller_serves_once_when_started_twice():
    with FakeDoorController().start() as ctl:
        thread = ctl._thread
        assert ctl.start() is ctl and ctl._thread is thread
        door = SerialDoor(ctl.port, timeout=1.0)
        for _ in range(5):
            door.open()
            door.close()
        assert ctl.commands == ["OPEN", "CLOSE"] * 5
        door.release()

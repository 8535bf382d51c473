"""Benchmark: reading DG1 + an 18 KB DG2 from the virtual chip with PACE and BAC, short vs extended APDUs.

Reports the APDU count, the bytes exchanged, the host (reader-side) CPU time, and the time the same
exchange would take over ISO/IEC 14443 at 424 kbit/s with a per-APDU latency model:

    wire_ms = sum over APDUs of  bits(command + response) / 424 kbit/s  +  per_apdu_latency_ms

where bits count 9 bits per byte (8 data + parity, ISO/IEC 14443-3 type A) plus 3 bytes of ISO/IEC
14443-4 block framing (PCB + CRC) per frame of up to 253 bytes (FSC 256), and ``per_apdu_latency_ms``
(default 4 ms) covers frame-waiting, turnaround and the chip's own secure-messaging crypto. The chip
emulation runs in-process: its CPU time is measured separately and excluded from the host figure.

Run: ``.venv/bin/python -m bench.chip_read [--repeat 5] [--latency-ms 4]``
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import emit  # noqa: E402
from emrtd import BacKey, read_document  # noqa: E402
from emrtd._secinfo import PaceInfo, SecurityInfos, pace_oid  # noqa: E402
from emrtd._tlv import encode_tlv  # noqa: E402
from emrtd.sim import InProcessTransport, VirtualChip

BIT_RATE = 424_000
FSC = 256
MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
KEY = BacKey("L898902C3", "740812", "120415")


def _frame_bytes(n: int) -> int:
    frames = max(1, math.ceil(n / (FSC - 3)))
    return n + 3 * frames


def wire_ms(log: list[tuple[bytes, bytes]], latency_ms: float) -> float:
    bits = sum(9 * (_frame_bytes(len(c)) + _frame_bytes(len(r))) for c, r in log)
    return 1000 * bits / BIT_RATE + latency_ms * len(log)


class _TimedChip:
    """Wraps the chip to measure its (emulation) CPU time separately from the reader's."""

    def __init__(self, chip: VirtualChip) -> None:
        self.chip = chip
        self.cpu = 0.0

    def transmit(self, apdu: bytes) -> bytes:
        t0 = time.process_time()
        try:
            return self.chip.transmit(apdu)
        finally:
            self.cpu += time.process_time() - t0


def _files(dg2_size: int) -> dict[str, bytes]:
    try:  # a real face image when the issuer is available
        from emrtd.sim import sample_dg2

        dg2 = sample_dg2()
    except (ImportError, AttributeError):
        dg2 = encode_tlv(0x75, os.urandom(dg2_size))
    return {
        "DG1": encode_tlv(0x61, encode_tlv(0x5F1F, MRZ.encode())),
        "DG2": dg2,
        "EF.COM": encode_tlv(0x60, encode_tlv(0x5C, b"\x61\x75")),
        "EF.CardAccess": SecurityInfos([PaceInfo(pace_oid("ECDH", "GM", "AES", 128), 2, 13)]).encode(),
    }


def run_case(files: dict[str, bytes], pace: bool, extended: bool, repeat: int, latency_ms: float) -> dict:
    chip_files = dict(files) if pace else {k: v for k, v in files.items() if k != "EF.CardAccess"}
    host, chip_cpu, wires = [], [], []
    apdus = sent = received = 0
    for _ in range(repeat):
        timed = _TimedChip(VirtualChip(chip_files, bac_key=KEY))
        t = InProcessTransport(timed, keep_log=True)
        t0 = time.process_time()
        res = read_document(t, KEY, files=["DG1", "DG2"], extended_length=extended)
        total = time.process_time() - t0
        assert res.files["DG2"] == files["DG2"]
        host.append(1000 * (total - timed.cpu))
        chip_cpu.append(1000 * timed.cpu)
        wires.append(wire_ms(t.log, latency_ms))
        apdus, sent, received = t.apdu_count, t.bytes_sent, t.bytes_received
    host_ms = statistics.median(host)
    wire = statistics.median(wires)
    return {
        "access": "PACE" if pace else "BAC",
        "apdu_length": "extended" if extended else "short",
        "apdu_count": apdus,
        "bytes_sent": sent,
        "bytes_received": received,
        "host_cpu_ms": round(host_ms, 2),
        "chip_emulation_cpu_ms": round(statistics.median(chip_cpu), 2),
        "estimated_wire_ms": round(wire, 1),
        "host_cpu_share_of_wire": round(host_ms / wire, 4),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=4.0)
    ap.add_argument("--dg2-size", type=int, default=18000)
    args = ap.parse_args(argv)
    files = _files(args.dg2_size)
    cases = [
        run_case(files, pace, ext, args.repeat, args.latency_ms)
        for pace in (True, False)
        for ext in (False, True)
    ]
    result = {
        "dg1_bytes": len(files["DG1"]),
        "dg2_bytes": len(files["DG2"]),
        "pace_suite": "ECDH-GM brainpoolP256r1 AES-128",
        "wire_model": {"bit_rate_bps": BIT_RATE, "bits_per_byte": 9, "fsc": FSC, "frame_overhead_bytes": 3,
                       "per_apdu_latency_ms": args.latency_ms},
        "repeat": args.repeat,
        "cases": cases,
        "max_host_cpu_share_of_wire": max(c["host_cpu_share_of_wire"] for c in cases),
        "host_cpu_under_10_percent": all(c["host_cpu_share_of_wire"] < 0.10 for c in cases),
    }
    emit("chip_read", result)
    return result


if __name__ == "__main__":
    main()

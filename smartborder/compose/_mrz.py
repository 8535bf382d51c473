"""Where a kiosk's or a gate's MRZ comes from (``[kiosk|gate] mrz_reader``), shared by both compositions.

- ``"camera"`` (the default, what deployments had): OCR of a camera frame of the data page (``page_camera``).
- ``"page_reader"``: a full-page or swipe reader that sends the MRZ as text (``mrz_reader_device``;
  ``mrz_reader_kind`` "serial": :class:`devices.SerialMrzReader` at ``mrz_reader_baud``, or "keyboard":
  :class:`devices.KeyboardWedgeMrzReader`, grabbed so its keystrokes never reach the kiosk's UI).
- ``"both"``: the page reader first, the camera's OCR when the page reader reads nothing within its time-out.

The page reader is opened when the devices are built: a kiosk or gate whose reader is missing, or cannot be
opened, does not start (a configuration error naming the setting and the device). Unknown values are refused.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MRZ_READERS", "MRZ_READER_KINDS", "KIOSK_PAGE_READER_TIMEOUT_S", "GATE_PAGE_READER_TIMEOUT_S",
           "mrz_reader_problems", "open_page_reader", "page_reader"]

MRZ_READERS = ("camera", "page_reader", "both")
MRZ_READER_KINDS = ("serial", "keyboard")
#: one read's wait for a document on the page reader. The kiosk's document step asks again until its own time-out
#: (so with "both" it alternates between the reader and the camera); the gate asks once per traveller, whose
#: document is already on the reader when the chip is found
KIOSK_PAGE_READER_TIMEOUT_S = 2.0
GATE_PAGE_READER_TIMEOUT_S = 5.0


def mrz_reader_problems(section: str, config: Any) -> list[str]:
    """What is wrong with ``config``'s ``mrz_reader*`` settings (``section``: "kiosk" or "gate")."""
    problems = []
    if config.mrz_reader not in MRZ_READERS:
        problems.append(f"[{section}] mrz_reader must be camera, page_reader or both, not {config.mrz_reader!r}")
    if config.mrz_reader_kind not in MRZ_READER_KINDS:
        problems.append(f"[{section}] mrz_reader_kind must be serial or keyboard, not {config.mrz_reader_kind!r}")
    if config.mrz_reader in ("page_reader", "both") and not config.mrz_reader_device:
        problems.append(f"[{section}] mrz_reader = \"{config.mrz_reader}\" needs mrz_reader_device: the page "
                        "reader's device (/dev/ttyACM0 or /dev/serial/by-id/... for a serial reader, "
                        "/dev/input/by-id/...-event-kbd for a keyboard wedge; `smartborder doctor` lists them)")
    if section == "gate" and config.mrz_reader == "both" and not config.page_camera:  # the kiosk has its face camera
        problems.append("[gate] mrz_reader = \"both\" needs page_camera (the camera whose OCR follows the page reader)")
    from devices import SerialMrzReader

    baud = config.mrz_reader_baud
    if isinstance(baud, bool) or not isinstance(baud, int) or baud not in SerialMrzReader.BAUD_RATES:
        problems.append(f"[{section}] mrz_reader_baud must be a standard rate "
                        f"({', '.join(map(str, SerialMrzReader.BAUD_RATES))}), not {baud!r}")
    return problems


def open_page_reader(section: str, config: Any, timeout_s: float, error: type[Exception]):
    """The page reader of ``config`` (``mrz_reader`` "page_reader" or "both"), opened; ``error`` (the role's
    configuration error) names the setting and the device when it cannot be."""
    from devices import KeyboardWedgeMrzReader, MrzReaderUnavailable, SerialMrzReader

    try:
        if config.mrz_reader_kind == "keyboard":
            return KeyboardWedgeMrzReader(config.mrz_reader_device, timeout_s=timeout_s)
        return SerialMrzReader(config.mrz_reader_device, config.mrz_reader_baud, timeout_s=timeout_s)
    except MrzReaderUnavailable as e:
        raise error(f"[{section}] mrz_reader = \"{config.mrz_reader}\" ({config.mrz_reader_kind} page reader "
                    f"{config.mrz_reader_device}): {e}") from e


def page_reader(section: str, config: Any, error: type[Exception]):
    """The role's page reader for ``mrz_reader`` "page_reader" or "both" (opened, with the role's time-out), None
    for "camera"."""
    if config.mrz_reader == "camera":
        return None
    timeout = GATE_PAGE_READER_TIMEOUT_S if section == "gate" else KIOSK_PAGE_READER_TIMEOUT_S
    return open_page_reader(section, config, timeout, error)

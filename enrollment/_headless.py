"""Drive a whole enrolment without a screen (the demonstration, batch enrolments, benchmarks).

The traveller's part is played by the devices handed in: the camera's frames, the scanner's
captures, consent given. A camera with ``follow(instruction)`` (the simulator's traveller) is told
each liveness instruction, as a traveller reads the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from enrollment._session import Outcome, Step
from enrollment._workflow import EnrolmentWorkflow

__all__ = ["HeadlessResult", "enrol_headless"]


@dataclass(frozen=True)
class HeadlessResult:
    outcome: Outcome
    reason_code: str | None
    steps: tuple[str, ...]
    frames: int
    captures: int
    outbox_id: str | None
    backoffice_status: str | None


def enrol_headless(workflow: EnrolmentWorkflow, camera, scanner, *, language: str = "vi",
                   max_frames: int = 600, max_captures: int = 12) -> HeadlessResult:
    """Run one enrolment to its end (DONE, REFERRED or ABANDONED) and return what happened."""
    steps: list[str] = []
    previous = workflow.on_change
    workflow.on_change = lambda step: (steps.append(step.value), previous and previous(step))
    frames = captures = 0
    try:
        workflow.start(language)
        while workflow.step is Step.DOCUMENT:
            workflow.read_document()
        if workflow.step is Step.CONSENT:
            workflow.consent(True)
        while workflow.step is Step.CHIP:
            workflow.read_chip()
        if workflow.step is Step.FACE:
            follow = getattr(camera, "follow", None)
            for frame in camera.frames():
                frames += 1
                fb = workflow.process_frame(frame, getattr(camera, "frame_time", None))
                if follow is not None:
                    follow(fb.challenge)
                if workflow.step is not Step.FACE or frames >= max_frames:
                    break
            if workflow.step is Step.FACE:
                workflow.abandon(Outcome.ABANDONED)
        while workflow.step is Step.FINGERPRINTS and captures < max_captures:
            captures += 1
            workflow.capture_fingers(scanner.capture())
        if workflow.step is Step.FINGERPRINTS:
            workflow.abandon(Outcome.ABANDONED)
        if workflow.step is Step.REVIEW:
            workflow.confirm()
    finally:
        workflow.on_change = previous
    answer = workflow.answer
    return HeadlessResult(workflow.outcome, workflow.reason_code, tuple(steps), frames, captures,
                          workflow.outbox_id, answer.status if answer else None)

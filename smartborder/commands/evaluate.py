"""``smartborder eval``: biometric evaluation harnesses (ISO/IEC 19795-1 style)."""

from __future__ import annotations

import importlib

import click

_EVALS = {
    "face": ("smartborder.commands.eval_face:face", "Face verification: FTA, EER, FNMR at fixed FMR, DET."),
    "finger": ("smartborder.commands.eval_finger:finger", "Fingerprint verification on FVC sets."),
}


class _LazyEval(click.Group):
    def list_commands(self, ctx):
        return [n for n, (t, _) in _EVALS.items() if importlib.util.find_spec(t.split(":")[0])]

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.list_commands(ctx):
            return None
        module, attr = _EVALS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=_LazyEval)
def evaluate() -> None:
    """Measure a biometric engine on a labelled data set."""

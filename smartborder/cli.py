"""The one command-line entry point: ``smartborder``.

Sub-commands live in :mod:`smartborder.commands`, one module each, and are imported only
when invoked, so ``smartborder --help`` stays fast and loads no model or framework.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group. Each is imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("smartborder.commands.doctor:doctor", "Check dependencies, models, fonts and readers offline."),
    "mrz": ("smartborder.commands.mrz:mrz", "Parse and check machine readable zones."),
    "chip": ("smartborder.commands.chip:chip", "Issue, read and verify eMRTD chips."),
    "trust": ("smartborder.commands.trust:trust", "Import, list and check the versioned trust store (PKD LDIF)."),
    "eval": ("smartborder.commands.evaluate:evaluate", "Biometric evaluation harnesses (face, finger)."),
    "privacy": ("smartborder.commands.privacy:privacy", "Retention report, purge, ledger, subject export."),
    "backoffice": ("smartborder.commands.backoffice:backoffice", "Run the back-office service."),
    "kiosk": ("smartborder.commands.kiosk:kiosk", "Run the enrolment kiosk."),
    "gate": ("smartborder.commands.gate:gate", "Run an e-gate."),
    "flow": ("smartborder.commands.flow:flow", "Simulate and size the passenger hall."),
    "demo": ("smartborder.commands.demo:demo", "Run the end-to-end demonstration."),
}


def _available(name: str) -> bool:
    module = SUBCOMMANDS[name][0].split(":")[0]
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in SUBCOMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS or not _available(cmd_name):
            return None
        target, _ = SUBCOMMANDS[cmd_name]
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, SUBCOMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smartborder")
def main() -> None:
    """Smart border system for the Bắc Luân I bridge: kiosks, e-gates and the back office."""


if __name__ == "__main__":  # pragma: no cover
    main()

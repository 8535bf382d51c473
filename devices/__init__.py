"""Ports and adapters for cameras, chip readers, fingerprint scanners and doors."""

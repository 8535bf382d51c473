"""Fingerprint quality, minutiae, ISO templates and matching."""

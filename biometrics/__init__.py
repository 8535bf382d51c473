"""Biometric engines: face/ and finger/."""

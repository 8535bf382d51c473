"""Encrypted vault, retention and the audit ledger."""

"""The e-gate controller workflow."""

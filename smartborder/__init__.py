"""The smartborder CLI and application wiring (entry point)."""

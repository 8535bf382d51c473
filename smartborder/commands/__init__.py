"""One module per top-level CLI command; each exposes a click command or group."""

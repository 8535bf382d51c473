"""Face detection, quality, liveness and 1:1 verification."""

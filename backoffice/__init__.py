"""The back-office FastAPI service (entry point)."""

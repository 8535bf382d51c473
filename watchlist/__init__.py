"""Watchlist matching (document numbers, fuzzy person names)."""

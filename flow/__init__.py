"""Discrete-event simulation of the Bac Luan I passenger hall."""

"""Payments' own tables."""

"""Shipping' own tables."""

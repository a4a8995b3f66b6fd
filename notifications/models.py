"""Notifications' own tables."""

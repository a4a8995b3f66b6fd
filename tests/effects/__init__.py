"""A test-only app with one table that handlers under test write their effects to."""

"""Orders' own tables (none yet: the Order is event-sourced in ``events`` streams)."""

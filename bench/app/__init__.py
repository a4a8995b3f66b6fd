"""The benchmark's own Django app: its tables, message types and subscriptions."""

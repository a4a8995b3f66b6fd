"""Payments: a participant of the order flow; charges and refunds orders through a
payment provider (handlers.py). Other apps may import only payments.contracts."""

"""Shipping: a participant of the order flow; creates, cancels and dispatches an
order's shipment (handlers.py). Other apps may import only shipping.contracts."""

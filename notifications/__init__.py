"""Notifications: a participant of the order flow (its handlers arrive with the
order-flow issue). Other apps may import only notifications.contracts."""

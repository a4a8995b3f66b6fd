"""Orders: the event-sourced Order, its saga and its read models (arrive with their
issues). Other apps may import only ``orders.contracts``."""

"""Inventory: the catalogue and stock per SKU. Other apps may import only
``inventory.contracts``."""

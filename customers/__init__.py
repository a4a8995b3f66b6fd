"""Customers: who may place orders. Other apps may import only
``customers.contracts``."""

"""The public contract of orders: the messages it publishes or accepts.

The only module of this app that another app may import."""

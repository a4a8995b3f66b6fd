"""The public contract of shipping: the messages it publishes or accepts.

The only module of this app that another app may import."""

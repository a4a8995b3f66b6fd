"""The storefront REST API at /api/v1: one NinjaAPI assembled from the apps' routers.

Each app owns its Router (``customers.api``, ``inventory.api``, ``orders.api``); this
package adds what is the project's: the bearer auth (every operation requires it unless
it says ``auth=None``), the problem+json mapping of every error (``problems``), the
request guards and correlation ids (``middleware``), the strict JSON parser, rate
limits, the OpenAPI finishing touches and the health checks."""

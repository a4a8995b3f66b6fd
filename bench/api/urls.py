"""The API bench's URLconf: the shop's own URLs, and the bench-only minimal write.

Used only by ``bench.api.settings`` (the bench's gunicorn): ``shop.urls`` never
contains the bench's URL."""

from django.urls import path

from bench.api.write import minimal_write
from shop.urls import urlpatterns as shop_urlpatterns

urlpatterns = [
    path("api/bench/write", minimal_write, name="bench-minimal-write"),
    *shop_urlpatterns,
]

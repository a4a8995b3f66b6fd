"""Scraping a real metrics endpoint over HTTP, as Prometheus does, and reading it.

``scrape`` GETs the exposition with the scraper's bearer token and parses it with
prometheus-client's own parser; ``Exposition`` answers what a query would: a sample's
value, the sum over a metric's series, the metric names it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Exposition:
    text: str
    samples: tuple[Sample, ...]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels`` (0 when
        none: a series not yet created)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and labels.items() <= s.labels.items()
        )

    def names(self) -> set[str]:
        """Every sample name (``_total``, ``_bucket``, ``_count``... included)."""
        return {s.name for s in self.samples}

    def lines(self, *prefixes: str) -> list[str]:
        return [
            line
            for line in self.text.splitlines()
            if line.startswith(prefixes) and not line.startswith("#")
        ]


def scrape(url: str, *, token: str = "") -> Exposition:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    text = response.text
    samples = tuple(
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )
    return Exposition(text, samples)

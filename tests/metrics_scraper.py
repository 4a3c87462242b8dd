"""Scraping /metrics in tests: the bearer token the apps under test are given, and the
scrape read back as samples keyed by name and labels."""

from __future__ import annotations

import secrets

import requests
from prometheus_client.parser import text_string_to_metric_families

TOKEN = secrets.token_urlsafe(32)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_text(url: str, token: str = TOKEN) -> str:
    response = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.text


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str) -> Samples:
    return parse(scrape_text(url))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)

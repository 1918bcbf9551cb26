"""Scraping a metrics endpoint over HTTP, for the metrics tests."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]

APP_MODULE = "tests.apps.metrics_app"


def scrape(port: int, timeout_s: float = 10.0) -> Samples:
    """Every sample of ``http://127.0.0.1:port/metrics``, by sample name."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        text = reply.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (task: the short name)."""
    if "task" in labels and not labels["task"].startswith("_"):
        labels["task"] = f"{APP_MODULE}.{labels['task']}"
    rows = samples.get(name, [])
    return sum(v for got, v in rows if all(got.get(k) == w for k, w in labels.items()))


def wait_for(
    port: int, done: Callable[[Samples], bool], timeout_s: float = 60.0, log: str = ""
) -> Samples:
    """Scrape until ``done(samples)``; the last scrape."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            samples = scrape(port)
        except OSError:  # the server is not listening yet
            samples = {}
        if samples and done(samples):
            return samples
        assert time.monotonic() < deadline, f"metrics never got there: {samples}\n{log}"
        time.sleep(0.1)

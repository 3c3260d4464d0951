"""The store's commit metrics as a Prometheus scraper reads them: counted with plain adds
(collab.hub.metrics.CommitStats) but exposed as a standard counter and histogram."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from collab.hub.metrics import HubMetrics


def scraped(metrics: HubMetrics) -> dict[str, float]:
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            key = s.name + (f"{{le={s.labels['le']}}}" if "le" in s.labels else "")
            samples[key] = s.value
    return samples


def test_commits_scrape_as_a_counter_and_a_cumulative_histogram_with_le_buckets() -> None:
    metrics = HubMetrics()
    for seconds, entries in ((0.0001, 1), (0.0005, 3), (0.0007, 1), (0.03, 10), (4.0, 2)):
        metrics.observe_commit(seconds, entries)
    got = scraped(metrics)
    assert got["collab_updates_stored_total"] == 17
    assert got["collab_store_commit_seconds_count"] == 5
    assert abs(got["collab_store_commit_seconds_sum"] - 4.0313) < 1e-9
    # "le": a commit of exactly 0.5 ms is in the 0.0005 bucket; buckets are cumulative; +Inf is all
    assert got["collab_store_commit_seconds_bucket{le=0.0005}"] == 2
    assert got["collab_store_commit_seconds_bucket{le=0.001}"] == 3
    assert got["collab_store_commit_seconds_bucket{le=0.02}"] == 3
    assert got["collab_store_commit_seconds_bucket{le=0.05}"] == 4
    assert got["collab_store_commit_seconds_bucket{le=2.5}"] == 4
    assert got["collab_store_commit_seconds_bucket{le=+Inf}"] == 5

"""The benchmark's baseline: the median of scans spread over the bench."""

from flows.bench import median_scan


def _scan(*seconds: float) -> dict:
    return {"files": {f"f{i}.csv": {"scan": s, "transcode": 0.0, "rows": 1} for i, s in enumerate(seconds)}}


def test_the_median_scan_is_kept_whole_with_every_total_in_order() -> None:
    slow, fast, middle = _scan(3.0, 2.5), _scan(2.0, 2.0), _scan(2.5, 2.0)
    chosen = median_scan([slow, fast, middle])
    assert chosen["files"] == middle["files"]  # the file table is that scan's own
    assert chosen["repeats"] == [5.5, 4.0, 4.5]
    assert median_scan([slow, fast])["files"] == fast["files"]  # of two, the lower

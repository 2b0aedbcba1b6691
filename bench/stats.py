"""Small, dependency-free statistics for latency samples (seconds in, ms out)."""
import math


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    xs = sorted(values)
    if not xs:
        return None
    rank = max(1, math.ceil(q / 100 * len(xs)))
    return xs[min(rank, len(xs)) - 1]


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


def summary(samples):
    """{n, p50_ms, p90_ms, p99_ms, max_ms, mean_ms} of latencies in seconds."""
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50_ms": ms(percentile(samples, 50)),
            "p90_ms": ms(percentile(samples, 90)), "p99_ms": ms(percentile(samples, 99)),
            "max_ms": ms(max(samples)), "mean_ms": ms(sum(samples) / len(samples))}


def ratio(a, b, digits=3):
    if a is None or b in (None, 0):
        return None
    return round(a / b, digits)

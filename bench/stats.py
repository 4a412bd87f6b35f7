"""stats.py: latency percentiles (nearest rank) and number formatting."""
import math


def percentile(sorted_values, p):
    """The nearest-rank p-th percentile of an ascending list, or None."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(latencies_s):
    """p50, p90, p99 and max of latencies in seconds, in ms."""
    values = sorted(latencies_s)
    result = {}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        v = percentile(values, p)
        result[name] = None if v is None else v * 1000.0
    return result


def fmt_ms(value):
    if value is None:
        return "n/a"
    if value < 10:
        return "%.2f" % value
    if value < 100:
        return "%.1f" % value
    return "%.0f" % value


def fmt_rate(value):
    if value is None:
        return "n/a"
    return "{:,.0f}".format(value)


def fmt_ratio(numerator, denominator):
    if not numerator or not denominator:
        return "n/a"
    r = numerator / denominator
    if r >= 100:
        return "%.0f×" % r
    return ("%.2f×" if r < 10 else "%.1f×") % r

"""waiting.py: bounded waits for a condition (never sleep-and-hope)."""
import time


class Timeout(Exception):
    pass


def wait_until(what, timeout_s, condition, interval_s=0.2):
    """Poll condition() until it returns a true value, and return that;
    raise Timeout naming what after timeout_s seconds.  An exception from
    condition counts as not yet (a server may still be starting)."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 (retried until the deadline)
            last_error = e
        if time.monotonic() >= deadline:
            detail = " (last error: %s)" % last_error if last_error else ""
            raise Timeout("timed out after %.0f s waiting for %s%s" % (timeout_s, what, detail))
        time.sleep(interval_s)


def sleep_until(epoch_s):
    delay = epoch_s - time.time()
    if delay > 0:
        time.sleep(delay)

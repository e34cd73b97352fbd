"""What the benchmark scripts share: reading a process's peak memory."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage: on Linux ru_maxrss survives exec, so a child
    started from a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

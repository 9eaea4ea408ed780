"""Put ``bench/`` on the import path, as running a script from it does.

The benchmark scripts import their neighbours by module name
(``from machine_info import describe_machine``), because ``bench/`` is not a
package.
"""

from __future__ import annotations

import sys

from features.paths import PROJECT_DIR

BENCH_DIR = str(PROJECT_DIR / "bench")
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

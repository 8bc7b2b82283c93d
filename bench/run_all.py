"""Run every benchmark in this folder; each prints its own ratios against a baseline measured in the same run,
then the table of every target (bench/report.py) is printed once more at the end."""
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402  (bench/ is not a package; the benchmarks share this module)

BENCHMARKS = ("bench_core.py", "bench_collectors.py", "bench_http.py", "bench_stream.py", "bench_statements.py",
              "bench_scale.py")

for name in BENCHMARKS:
    print(f"== {name}", flush=True)
    runpy.run_path(str(HERE / name), run_name="__main__")
print("== summary")
print(report.summary())

"""Run every benchmark in this folder; each prints its own ratios against a baseline measured in the same run."""
import runpy
from pathlib import Path

HERE = Path(__file__).resolve().parent

for name in ("bench_core.py", "bench_collectors.py", "bench_stream.py"):
    print(f"== {name}")
    runpy.run_path(str(HERE / name), run_name="__main__")

"""A wheel built with `pip wheel .` carries the dashboard's assets and works on its own."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import sys
from bytedb_exporter.web.assets import asset_dir
from bytedb_exporter.web.app import create_app
assert str(asset_dir("templates")).startswith(sys.argv[1]), asset_dir("templates")
client = create_app(start_stream=False).test_client()
page = client.get("/")
assert page.status_code == 200 and b"dashboard.js" in page.data
assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
assert client.get("/metrics").status_code == 200
from bytedb_exporter.config.loader import example_config
assert "role: worker " in example_config("worker") and "role: coordinator " in example_config("coordinator")
print("ok")
"""


def test_wheel_contains_assets_and_serves_the_page(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("bytedb_exporter-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("bytedb_exporter/templates/index.html", "bytedb_exporter/static/dashboard.js",
                     "bytedb_exporter/static/vendor/uplot/uPlot.iife.min.js", "bytedb_exporter/py.typed",
                     "bytedb_exporter/web/app.py", "bytedb_exporter/demo/engine.py",
                     "bytedb_exporter/config/examples/coordinator.yml", "bytedb_exporter/config/examples/worker.yml"):
        assert required in names, required
    assert not [name for name in names if name.startswith("tests/")]
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    result = subprocess.run([sys.executable, "-c", CHECK, str(unpacked)], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points[0]).decode()
    assert "bytedb-exporter = bytedb_exporter.cli:main" in text

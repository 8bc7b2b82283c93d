"""The `bytedb-exporter` command."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bytedb_exporter.config.loader import load_config
from bytedb_exporter.config.models import ConfigError
from bytedb_exporter.debug import set_debug_mode
from bytedb_exporter.demo_app import DemoOptions, run_demo
from bytedb_exporter.serve import run


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def worker_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be 1..16, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bytedb-exporter", description="Monitoring for ByteDB clusters.")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo",
                               help="run a real SQL workload on a sharded SQLite cluster with the live dashboard")
    demo.add_argument("--port", type=int, default=8091, help="dashboard port (default 8091)")
    demo.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    demo.add_argument("--workers", type=worker_count, default=3, help="worker processes (default 3)")
    demo.add_argument("--qps", type=positive_float, default=20.0, help="target queries per second (default 20)")
    demo.add_argument("--duration", type=positive_float, default=None, help="stop after this many seconds")
    demo.add_argument("--data-dir", type=Path, default=None, help="where the shards are built (default: temp dir)")
    demo.add_argument("--worker-base-port", type=int, default=9101,
                      help="first port of the per-worker exporters (default 9101; 0 turns them off)")
    demo.add_argument("--stream-interval", type=positive_float, default=2.0, help="seconds between live updates")
    serve = commands.add_parser("serve", help="run a coordinator or worker exporter beside a ByteDB node")
    serve.add_argument("--config", required=True, type=Path, help="YAML configuration (see examples/)")
    check = commands.add_parser("check-config", help="validate a configuration file without starting")
    check.add_argument("file", type=Path, help="YAML configuration to check")
    return parser


def serve_command(path: Path, start: bool) -> int:
    """Load a configuration; report its problems (exit 2) or start serving / report it valid."""
    try:
        config = load_config(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if not start:
        extra = f", {len(config.workers)} remote worker(s)" if config.role == "coordinator" else ""
        print(f"{path}: ok ({config.role} {config.node_id}, listen {config.host}:{config.port}{extra}, "
              f"auth {'on' if config.auth.enabled else 'off'})")
        return 0
    return run(config)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=logging.DEBUG if args.debug else quiet,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.debug:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    else:
        set_debug_mode(True)
    if args.command == "demo":
        options = DemoOptions(port=args.port, host=args.host, workers=args.workers, qps=args.qps,
                              duration=args.duration, data_dir=args.data_dir, stream_interval=args.stream_interval,
                              worker_base_port=args.worker_base_port)
        return run_demo(options, sys.stdout)
    if args.command in ("serve", "check-config"):
        return serve_command(args.config if args.command == "serve" else args.file, args.command == "serve")
    return 2


if __name__ == "__main__":
    sys.exit(main())

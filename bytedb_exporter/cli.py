"""The `bytedb-exporter` command."""
from __future__ import annotations

import argparse
import functools
import logging
import sys
import textwrap
from pathlib import Path

from bytedb_exporter._version import __version__
from bytedb_exporter.config.loader import ROLES, example_config, load_config
from bytedb_exporter.config.models import ConfigError
from bytedb_exporter.debug import set_debug_mode
from bytedb_exporter.demo_app import DEFAULT_WORKER_BASE_PORT, DemoOptions, run_demo
from bytedb_exporter.serve import run

DEMO = DemoOptions()
CONFIG_HELP = ("YAML configuration file (required); `bytedb-exporter example-config coordinator` or "
               "`... worker` prints a commented one to start from")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, but a line never breaks inside a hyphenated word such as example-config."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False)


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def worker_count(text: str) -> int:
    """An argparse type: 1..16 workers."""
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be 1..16, got {text}")
    return value


def skew_factor(text: str) -> int:
    """An argparse type: a work factor 1..20."""
    value = int(text)
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"must be 1..20, got {text}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port 0..65535 (0: none, or any free one where the option says so)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port 0..65535, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser: global options (also accepted after the subcommand), four subcommands."""
    parser = argparse.ArgumentParser(prog="bytedb-exporter", formatter_class=HelpFormatter,
                                     description="Monitoring for ByteDB clusters: a Prometheus exporter, "
                                                 "JSON API and live dashboard, and a demo cluster.")
    parser.add_argument("--version", action="version", version=f"bytedb-exporter {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level (default: off)")
    common = argparse.ArgumentParser(add_help=False)  # the same global option after the subcommand
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log at DEBUG level (default: off)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub = functools.partial(commands.add_parser, parents=[common], formatter_class=HelpFormatter)
    add_demo(sub(
        "demo", help="run a real SQL workload on a sharded SQLite cluster, monitored live",
        description="Build a sharded SQLite data set, start one worker process per shard, run a query mix "
                    "against it and serve the live dashboard, /metrics and the JSON API. Ctrl-C stops it."))
    serve = sub(
        "serve", help="run a coordinator or worker exporter beside a ByteDB node",
        description="Run the exporter that a configuration file describes (role coordinator or worker) "
                    "until SIGTERM or Ctrl-C. Exit 2 when the configuration is invalid.")
    serve.add_argument("--config", required=True, type=Path, metavar="FILE", help=CONFIG_HELP)
    check = sub(
        "check-config", help="validate a configuration file without starting",
        description="Validate a configuration file: exit 0 and a summary when it is valid, exit 2 with "
                    "every problem (file, key, expectation) otherwise.")
    check.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    check.add_argument("file", type=Path, nargs="?", help=argparse.SUPPRESS)  # the older spelling
    example = sub(
        "example-config", help="print a commented example configuration",
        description="Print the commented example configuration of a coordinator or a worker exporter "
                    "(its keys, their defaults and what they mean); `check-config --config` accepts it as printed.")
    example.add_argument("role", nargs="?", choices=ROLES, default=ROLES[0],
                         help=f"which exporter (default: {ROLES[0]})")
    return parser


def add_demo(demo: argparse.ArgumentParser) -> None:
    """The demo's options, each with its default."""
    demo.add_argument("--port", type=port_number, default=DEMO.port,
                      help=f"dashboard and coordinator /metrics port (default: {DEMO.port})")
    demo.add_argument("--host", default=DEMO.host, help=f"listen address (default: {DEMO.host})")
    demo.add_argument("--workers", type=worker_count, default=DEMO.workers,
                      help=f"worker processes, 1..16 (default: {DEMO.workers})")
    demo.add_argument("--qps", type=positive_float, default=DEMO.qps,
                      help=f"target queries per second (default: {DEMO.qps:g})")
    demo.add_argument("--duration", type=positive_float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C or SIGTERM)")
    demo.add_argument("--data-dir", type=Path, default=None,
                      help="where the shards are built, reused when it already holds the same data set "
                           "(default: a new temporary directory of this demo's own, removed when it stops)")
    demo.add_argument("--worker-base-port", type=port_number, default=None,
                      help=f"port of worker-1's exporter; worker-N serves on this + N - 1, 0 turns the worker "
                           f"exporters off (default: {DEFAULT_WORKER_BASE_PORT}; when one of those ports is in "
                           f"use, free ports are taken and printed; a port given here must be free)")
    demo.add_argument("--stream-interval", type=positive_float, default=DEMO.stream_interval,
                      help=f"seconds between live updates of the page (default: {DEMO.stream_interval:g})")
    demo.add_argument("--skew-worker", type=worker_count, default=None, metavar="N",
                      help="give worker-N more work than the others, see --skew-factor (default: an even workload)")
    demo.add_argument("--skew-factor", type=skew_factor, default=DEMO.skew_factor,
                      help=f"with --skew-worker: that worker runs every uncached fragment this many times, 1..20 "
                           f"(default: {DEMO.skew_factor})")
    demo.add_argument("--restart-workers", type=positive_float, default=None, metavar="SECONDS",
                      help="restart a worker process that died once it has been gone this long "
                           "(default: a dead worker stays offline)")


def check_config_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The file check-config validates: --config FILE (or the older positional FILE), exactly one."""
    if args.config is not None and args.file is not None:
        parser.error("check-config: give the file once, as --config FILE")
    path: Path | None = args.config if args.config is not None else args.file
    if path is None:
        parser.error("check-config: the following arguments are required: --config FILE")
    return path


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


def configure_logging(command: str, debug: bool) -> None:
    """INFO for serve, WARNING otherwise, DEBUG with --debug (no werkzeug line per request without it)."""
    quiet = logging.INFO if command == "serve" else logging.WARNING
    logging.basicConfig(level=logging.DEBUG if debug else quiet,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if debug:
        set_debug_mode(True)
    else:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.command, args.debug)
    if args.command == "demo":
        explicit = args.worker_base_port is not None
        options = DemoOptions(port=args.port, host=args.host, workers=args.workers, qps=args.qps,
                              duration=args.duration, data_dir=args.data_dir, stream_interval=args.stream_interval,
                              worker_base_port=args.worker_base_port if explicit else DEFAULT_WORKER_BASE_PORT,
                              free_worker_ports=not explicit, skew_worker=args.skew_worker,
                              skew_factor=args.skew_factor, restart_workers_after=args.restart_workers)
        return run_demo(options, sys.stdout)
    if args.command == "example-config":
        sys.stdout.write(example_config(args.role))
        return 0
    if args.command == "check-config":
        return serve_command(check_config_path(parser, args), start=False)
    return serve_command(args.config, start=True)


if __name__ == "__main__":
    sys.exit(main())

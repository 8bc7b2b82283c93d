"""The `bytedb-exporter` command: version, global options anywhere, one way to pass a config, help, examples."""
from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from bytedb_exporter import _version, cli
from bytedb_exporter.cli import build_parser, main
from bytedb_exporter.config.loader import example_config, load_config
from bytedb_exporter.demo.engine import worker_names
from bytedb_exporter.demo_app import DemoOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {"coordinator": ROOT / "examples" / "bytedb-exporter.yml",
            "worker": ROOT / "examples" / "bytedb-exporter-worker.yml"}
SUBCOMMANDS = ("demo", "serve", "check-config", "example-config")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """main(argv) -> (exit status, stdout, stderr); argparse's exits count as statuses."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers by name."""
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert (code, out.strip()) == (0, f"bytedb-exporter {_version.__version__}")


@pytest.mark.parametrize("argv", [
    ["--debug", "check-config", "--config", "x.yml"],
    ["check-config", "--config", "x.yml", "--debug"],
    ["check-config", "--debug", "--config", "x.yml"],
    ["--debug", "demo", "--debug"],
])
def test_debug_is_accepted_before_and_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).debug is True


@pytest.mark.parametrize("argv", [["check-config", "--config", "x.yml"], ["demo"], ["example-config"]])
def test_debug_defaults_to_off(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).debug is False


def test_every_option_of_every_subcommand_has_a_line_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    parsers = subparsers()
    assert sorted(parsers) == sorted(SUBCOMMANDS)
    for name, parser in parsers.items():
        assert parser.description, name
        for action in parser._actions:
            if action.help in (None, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
                continue
            assert "(default: " in action.help or "(required" in action.help, (name, action.dest, action.help)
            assert not action.required or "(required" in action.help, (name, action.dest)
        code, out, _ = run([name, "--help"], capsys)
        assert code == 0 and out.count("(default: ") + out.count("(required") >= 1, name
    code, out, _ = run(["demo", "--help"], capsys)
    for option, default in (("--port", "8091"), ("--workers", "3"), ("--qps", "20"), ("--worker-base-port", "9101"),
                            ("--stream-interval", "2"), ("--host", "127.0.0.1")):
        assert option in out and f"(default: {default}" in " ".join(out.split()), option


def test_serve_help_names_no_source_tree_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["serve", "--help"], capsys)
    assert code == 0 and "examples/" not in out and "example-config" in " ".join(out.split())


def test_check_config_takes_the_file_as_config_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check-config", "--config", str(EXAMPLES["coordinator"])], capsys)
    assert code == 0 and ": ok (coordinator coordinator, listen 127.0.0.1:8091, 3 remote worker(s)" in out
    code, _, err = run(["check-config"], capsys)
    assert code == 2 and "--config FILE" in err
    code, _, err = run(["check-config", "--config", str(EXAMPLES["worker"]), str(EXAMPLES["worker"])], capsys)
    assert code == 2 and "--config" in err


def test_check_config_reports_a_bad_file_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("role: coordinator\nnode_id: c\nlisten: {port: 70000}\n", encoding="utf-8")
    code, _, err = run(["check-config", "--config", str(bad)], capsys)
    assert code == 2 and "listen.port" in err and str(bad) in err


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_example_config_prints_the_shipped_file_and_check_config_accepts_it(
        role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["example-config", role], capsys)
    assert code == 0 and out == example_config(role)
    assert out == EXAMPLES[role].read_text(encoding="utf-8")  # examples/ holds the very same files
    assert out.lstrip().startswith("#") and f"\nrole: {role} " in out
    printed = tmp_path / f"{role}.yml"
    printed.write_text(out, encoding="utf-8")
    code, checked, _ = run(["check-config", "--config", str(printed)], capsys)
    assert code == 0 and f"ok ({role} " in checked


def test_example_config_defaults_to_the_coordinator_and_refuses_other_roles(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["example-config"], capsys)
    assert code == 0 and out == example_config("coordinator")
    code, _, err = run(["example-config", "gateway"], capsys)
    assert code == 2 and "invalid choice" in err
    with pytest.raises(ValueError, match="coordinator, worker"):
        example_config("gateway")


def test_the_coordinator_example_polls_the_demo_workers_under_their_ids() -> None:
    config = load_config(EXAMPLES["coordinator"], env={})
    assert [w.id for w in config.workers] == worker_names(3) == ["worker-1", "worker-2", "worker-3"]
    assert [w.url for w in config.workers] == [f"http://127.0.0.1:{9101 + i}" for i in range(3)]
    assert load_config(EXAMPLES["worker"], env={}).node_id == "worker-1"


def test_demo_with_a_taken_worker_port_fails_before_building(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            dashboard = free.getsockname()[1]
        code, _, err = run(["demo", "--port", str(dashboard), "--worker-base-port", str(port), "--workers", "1",
                            "--data-dir", str(tmp_path / "data")], capsys)
    assert code == 2 and "--worker-base-port" in err and str(port) in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("argv", [["demo", "--port", "70000"], ["demo", "--workers", "0"],
                                  ["demo", "--qps", "0"], ["demo", "--worker-base-port", "-1"],
                                  ["demo", "--restart-workers", "0"]])
def test_demo_refuses_bad_numbers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2 and argv[1] in err


@pytest.mark.parametrize("argv,base,free", [
    (["demo"], 9101, True),                              # the default ports may move when taken
    (["demo", "--worker-base-port", "9300"], 9300, False),  # a port you chose must be free
    (["demo", "--worker-base-port", "0"], 0, False),
])
def test_demo_takes_free_worker_ports_only_when_none_was_given(argv: list[str], base: int, free: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Running the demo here would bind the shared default ports 9101..: capture its options instead.
    seen: list[DemoOptions] = []
    monkeypatch.setattr(cli, "run_demo", lambda options, _stream: seen.append(options) or 0)
    assert main(argv) == 0
    assert (seen[0].worker_base_port, seen[0].free_worker_ports, seen[0].data_dir) == (base, free, None)


@pytest.mark.parametrize("argv,after", [(["demo"], None), (["demo", "--restart-workers", "2.5"], 2.5)])
def test_demo_restarts_dead_workers_only_when_asked(argv: list[str], after: float | None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[DemoOptions] = []
    monkeypatch.setattr(cli, "run_demo", lambda options, _stream: seen.append(options) or 0)
    assert main(argv) == 0
    assert seen[0].restart_workers_after == after

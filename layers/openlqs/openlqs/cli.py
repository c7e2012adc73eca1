"""The ``openlqs`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``openlqs`` argument parser, one subcommand per task."""
    parser = argparse.ArgumentParser(prog="openlqs", description="Open, serverless log query service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local = commands.add_parser(
        "local",
        help="run openlqs on this machine (moto + the API in one process) until Ctrl-C",
        description="Run openlqs on this machine until Ctrl-C; state is kept in the data directory.",
    )
    local.add_argument(
        "--port", type=int, default=None, help="API port (default: $OPENLQS_PORT or 8000; 0 picks a free one)"
    )
    local.add_argument(
        "--moto-port",
        type=int,
        default=None,
        help="port of the local AWS services (default: $OPENLQS_MOTO_PORT or a free one)",
    )
    local.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where state is kept (default: $OPENLQS_DATA_DIR or ~/.openlqs)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openlqs`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "local":
        # Imported here: moto and the server dependencies are only needed by this command.
        from openlqs.local.stack import run_foreground

        return run_foreground(port=args.port, moto_port=args.moto_port, data_dir=args.data_dir)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())

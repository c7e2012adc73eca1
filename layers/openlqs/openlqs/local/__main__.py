"""``python -m openlqs.local [--port N] [--moto-port N] [--data-dir DIR]``: same as ``openlqs local``."""

import argparse
import sys

from openlqs.local.runner import run_foreground


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m openlqs.local", description="Run openlqs locally.")
    parser.add_argument("--port", type=int, default=None, help="API port (default $OPENLQS_PORT or 8000)")
    parser.add_argument("--moto-port", type=int, default=None, help="moto's port (default: a free one)")
    parser.add_argument(
        "--data-dir", default=None, help="state folder (default $OPENLQS_DATA_DIR or ~/.openlqs)"
    )
    arguments = parser.parse_args()
    return run_foreground(port=arguments.port, moto_port=arguments.moto_port, data_dir=arguments.data_dir)


if __name__ == "__main__":
    sys.exit(main())

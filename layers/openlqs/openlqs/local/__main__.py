"""``python -m openlqs.local [--port N] [--moto-port N] [--data-dir DIR]``: same as ``openlqs local``."""

import sys

from openlqs.cli import main

if __name__ == "__main__":
    sys.exit(main(["local", *sys.argv[1:]]))

"""moto's port: the same on every start, so that ``OPENLQS_S3_ENDPOINT`` pasted earlier keeps working.

A port given by the caller (``--moto-port``, ``$OPENLQS_MOTO_PORT``; 0 picks a free one) is used as is,
and a start fails when it is taken. Otherwise moto listens where it listened last time on this data
directory (``ports.json``), or else on the API's port plus one (8001 beside the default 8000). When that
port is taken, a free one is used instead, a line on standard error says that the endpoint changed, and
the new port is remembered for the next start.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from openlqs.local.moto_server import ChangeTracker, TrackedMotoServer
from openlqs.local.snapshot import atomic_write

PORTS_FILE = "ports.json"


def remembered_moto_port(data_dir: Path) -> int | None:
    """The port moto had on the last start with this data directory, if one is recorded."""
    try:
        saved = json.loads((data_dir / PORTS_FILE).read_text(encoding="utf-8"))
        port = int(saved["moto_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return port if 0 < port < 65536 else None


def remember_moto_port(data_dir: Path, port: int) -> None:
    with atomic_write(data_dir / PORTS_FILE) as stream:
        json.dump({"moto_port": port}, stream)
        stream.write("\n")


def preferred_moto_port(data_dir: Path, api_port: int) -> int:
    """Where moto should listen when nobody said: last time's port, else the API's port + 1 (0: free)."""
    remembered = remembered_moto_port(data_dir)
    if remembered is not None and remembered != api_port:
        return remembered
    return api_port + 1 if 0 < api_port < 65535 else 0


def start_moto_server(
    tracker: ChangeTracker,
    host: str,
    data_dir: Path,
    *,
    requested: int | None,
    api_port: int,
    err: TextIO | None = None,
) -> TrackedMotoServer:
    """Start moto on ``requested`` (None: the stable port, with a fallback) and remember its port."""
    port = requested if requested is not None else preferred_moto_port(data_dir, api_port)
    moto = TrackedMotoServer(tracker, host, port)
    try:
        moto.start()
    except OSError as error:
        if requested is not None or port == 0:
            raise
        moto = TrackedMotoServer(tracker, host, 0)
        moto.start()
        new_port = moto.get_host_and_port()[1]
        print(
            f"openlqs local: moto's port {port} is taken ({error.__cause__ or error}); using {new_port}. "
            "OPENLQS_S3_ENDPOINT changed: paste the export lines below again. Set OPENLQS_MOTO_PORT to "
            "choose the port.",
            file=err or sys.stderr,
        )
    if requested is None:
        remember_moto_port(data_dir, moto.get_host_and_port()[1])
    return moto

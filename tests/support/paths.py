"""Where the project and the real files written by other tools are, and the tests' datastore id."""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
#: The datastore id of the integration tier's deployment (mock_aws).
DATASTORE_ID = "0f6c2a53-6d7e-4f1f-9e5a-2b8c7f0d9a11"

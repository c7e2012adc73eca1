"""A client process that uploads a file with ``openlqs.client`` over a slow link, for a test to kill.

    python -m tests.support.slow_upload LOG_ID FILE PART_SIZE   (LQS_* variables: the stack and key)

Parts go one at a time; after each part's PUT is answered it prints ``part N sent`` and waits
``PAUSE_S`` (the slow link), so a test that reads the lines knows which parts S3 has when it kills
the process.
"""

from __future__ import annotations

import sys
import time

import httpx

from openlqs.client import LogQS

PAUSE_S = 0.5


def _say_sent(response: httpx.Response) -> None:
    if response.request.method == "PUT":
        print(f"part {response.request.url.params['partNumber']} sent", flush=True)
        time.sleep(PAUSE_S)


def main() -> None:
    log_id, path, part_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    http = httpx.Client(timeout=60, event_hooks={"response": [_say_sent]})
    with LogQS({"progress": False}, http_client=http) as lqs:  # the stack and key: LQS_* variables
        lqs.utils.upload_log_object(log_id=log_id, file_path=path, part_size=part_size, max_workers=1)
    print("complete", flush=True)


if __name__ == "__main__":
    main()

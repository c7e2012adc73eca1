"""The real MCAP files of ``shared/fixtures/logs`` and what their README says they hold.

Written by the Go, TypeScript and Rust MCAP libraries (not by openlqs, rosbags or the Python ``mcap``
package); the values are the README's tables. Tests of every tier compare what openlqs finds with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Expected:
    type_name: str
    type_encoding: str | None
    message_encoding: str
    count: int
    first: int | None
    last: int | None
    sha256: str


#: The fixtures README's tables.
FIXTURES: dict[str, dict[str, Expected]] = {
    "rosbag2-talker-mcap/talker.mcap": {
        "/parameter_events": Expected(
            "rcl_interfaces/msg/ParameterEvent", "cdr", "cdr", 0, None, None, EMPTY_SHA256
        ),
        "/rosout": Expected(
            "rcl_interfaces/msg/Log",
            "cdr",
            "cdr",
            10,
            1585866235112411371,
            1585866239612761798,
            "bd52a8860b07faee1b17e7b416e2b79af65efd9027fbce87c8be1ba02fa8fcd4",
        ),
        "/topic": Expected(
            "std_msgs/msg/String",
            "cdr",
            "cdr",
            10,
            1585866235112609068,
            1585866239643508139,
            "e38fe52fdc1694310223777c42fbb1859f70095720bb1e1e51f46b716712fba1",
        ),
    },
    "json-mouse-events.mcap": {
        "mouse": Expected(
            "MouseEvent",
            "json",
            "json",
            111,
            1740566235448000000,
            1740566238556000000,
            "0a4d776afa1a6254332d9d425270afd1cd29df1ee0bdd56dded5933e6dbfadac",
        ),
    },
    "protobuf-laser-scan.mcap": {
        "/laser_scan": Expected(
            "foxglove.LaserScan",
            None,
            "protobuf",
            256,
            1689269563619269372,
            1689269595612078712,
            "11319093bd19cc51db535437593499de80ed2c06765234bdfff5a7c38f7ccac1",
        ),
    },
}


def sha256_of(messages: Iterable[bytes]) -> str:
    """The README's checksum: sha256 of the messages' bytes concatenated (in log-time order)."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(message)
    return digest.hexdigest()

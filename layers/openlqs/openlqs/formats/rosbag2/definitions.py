"""Message definitions of standard ROS 2 types from rosbags' type stores, for recordings that hold none.

Older sqlite3 recordings (schema version 3 and before; Foxy, Galactic, Humble) store a topic's type
name only. When rosbags knows the type, its store gives the ``ros2msg`` text with every dependency
appended as rosbag2 writes it (``====`` separator lines, ``MSG: pkg/Type`` headers), which is what a
topic's ``type_data`` holds. Which store: types changed between distributions, so

- with a type description hash (``RIHS01_…``, recorded from Iron on), only a store whose definition
  has that very hash is used (the recording's distribution first); no match means no definition;
- without one, the recording's distribution's store when rosbags has it, then the latest, then the
  other ROS 2 stores from newest to oldest; the first that knows the type wins.

A type no store knows has no definition: its messages keep their bytes, and a user can add the
definition later.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

#: rosbags' ROS 2 stores, newest first (``latest`` is tried before these when no distribution is known).
ROS2_STORES = (
    "ros2_lyrical",
    "ros2_kilted",
    "ros2_jazzy",
    "ros2_iron",
    "ros2_humble",
    "ros2_galactic",
    "ros2_foxy",
    "ros2_eloquent",
    "ros2_dashing",
)
LATEST_STORE = "latest"
RIHS01_PREFIX = "RIHS01_"


@dataclass(frozen=True)
class StoreDefinition:
    """A definition found in a rosbags store: ``ros2msg`` text and the store's name (``ros2_humble``)."""

    text: str
    store: str


@dataclass(frozen=True)
class StoreLookup:
    """What :func:`definition_from_store` found, and in words why (for an ingestion's context)."""

    definition: StoreDefinition | None
    note: str


def definition_from_store(
    type_name: str, *, type_description_hash: str = "", ros_distro: str = ""
) -> StoreLookup:
    """The ``ros2msg`` definition of ``type_name`` (``pkg/msg/Type``) from rosbags' stores, if one fits."""
    order = _store_order(ros_distro)
    knowing = [store for store in order if _knows(store, type_name)]
    if not knowing:
        return StoreLookup(None, f"rosbags' type stores do not know {type_name}")
    if type_description_hash.startswith(RIHS01_PREFIX):
        for store in knowing:
            if _rihs01(store, type_name) == type_description_hash:
                return StoreLookup(
                    StoreDefinition(_msgdef(store, type_name), store),
                    f"from rosbags' {store} store (type description hash matches)",
                )
        return StoreLookup(
            None,
            f"rosbags' stores know {type_name}, but none with the recorded type description hash "
            f"{type_description_hash}",
        )
    store = knowing[0]
    return StoreLookup(StoreDefinition(_msgdef(store, type_name), store), f"from rosbags' {store} store")


def _store_order(ros_distro: str) -> list[str]:
    distro_store = f"ros2_{ros_distro.strip().lower()}"
    order = [distro_store] if distro_store in ROS2_STORES else []
    return order + [name for name in (LATEST_STORE, *ROS2_STORES) if name not in order]


@cache
def _typestore(store: str) -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores(store))


def _knows(store: str, type_name: str) -> bool:
    return type_name in _typestore(store).types


@lru_cache(maxsize=1024)
def _msgdef(store: str, type_name: str) -> str:
    text, _ = _typestore(store).generate_msgdef(type_name, ros_version=2)
    return str(text)


@lru_cache(maxsize=1024)
def _rihs01(store: str, type_name: str) -> str | None:
    from rosbags.typesys import TypesysError

    try:
        return str(_typestore(store).hash_rihs01(type_name))
    except TypesysError:
        return None

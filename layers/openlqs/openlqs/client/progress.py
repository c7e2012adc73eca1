"""Progress bars: tqdm when it is installed, the caller wants one and stderr is a terminal."""

from __future__ import annotations

import sys
from typing import Any


class SilentBar:
    """The part of tqdm's interface the client uses, doing nothing."""

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> SilentBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(enabled: bool | None, **options: Any) -> Any:
    """A tqdm bar, or a silent stand-in. ``enabled=None`` means "when stderr is a terminal"."""
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return SilentBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return SilentBar()
    return tqdm(file=sys.stderr, **options)

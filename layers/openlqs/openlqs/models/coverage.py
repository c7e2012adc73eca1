"""A topic's coverage over time (``GET /topics/{topic_id}/coverage``): an openlqs route beyond LogQS."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from openlqs.models.common import TIMESTAMP_DESCRIPTION, BoundedTimestamp, Int64, WireModel

MAX_COVERAGE_BINS = 2000


class TopicCoverageParams(BaseModel):
    """The window and how many bins to cut it into."""

    model_config = ConfigDict(extra="ignore")

    timestamp_gte: BoundedTimestamp | None = Field(
        None, description=f"Start of the window (default: the topic's first record). {TIMESTAMP_DESCRIPTION}"
    )
    timestamp_lt: BoundedTimestamp | None = Field(
        None,
        description=f"End of the window, exclusive (default: just after the topic's last record). "
        f"{TIMESTAMP_DESCRIPTION}",
    )
    bins: int = Field(200, ge=1, le=MAX_COVERAGE_BINS, description="How many equal time bins.")


class TopicCoverage(WireModel):
    """Records per time bin, from the topic's record blocks (no record is listed).

    Bin ``i`` is [``start`` + i·``bin_width``, + ``bin_width``); the last one ends at ``end``. ``exact``:
    counted from the blocks' timestamps (few blocks reach the window); otherwise estimated from their
    statistics, each block's records spread evenly over its time range (a count of 0 is still exact).
    """

    topic_id: UUID
    start: Int64 | None = Field(description="First bin's start (ns); null when the topic has no records.")
    end: Int64 | None = Field(description="Last bin's end, exclusive (ns).")
    bin_width: Int64 | None = Field(description="Nanoseconds per bin (the last bin may be shorter).")
    counts: list[float] = Field(description="Estimated records per bin.")
    block_count: int = Field(description="Record blocks that reach the window.")
    exact: bool = Field(description="Counted from the blocks' timestamps, not estimated from statistics.")

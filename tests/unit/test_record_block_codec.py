"""RecordBlockCodec: packed-column encoding of record blocks."""

from __future__ import annotations

import base64
import random
import zlib
from datetime import UTC, datetime
from uuid import UUID

import pytest

from openlqs.records.blocks import RecordBlock
from openlqs.records.codec import (
    MAX_ROWS,
    BlockColumns,
    CorruptBlock,
    DecodedBlocks,
    decode_columns,
    decode_rows,
    decode_timestamps,
    encode_rows,
)
from openlqs.records.rows import RecordRow, bucket_of


def _ingested_rows(n: int, seed: int = 7) -> list[RecordRow]:
    rng = random.Random(seed)
    timestamp, offset = 1_655_235_727_034_130_944, 4_117
    rows = []
    for _ in range(n):
        timestamp += rng.randrange(0, 2_500_000)
        length = rng.randrange(8, 400)
        rows.append(
            RecordRow(
                timestamp=timestamp,
                data_offset=1_000,
                data_length=250_000,
                chunk_compression="lz4",
                chunk_offset=offset,
                chunk_length=length,
                ingestion_id="5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21",
            )
        )
        offset += length + 12
    return rows


def test_codec_round_trips_every_column() -> None:
    rows = _ingested_rows(1_000)
    rows.append(
        RecordRow(timestamp=2**63 - 1, source="other.bag", extra={"note": "n", "context": {"a": 1.5}})
    )
    rows.append(RecordRow(timestamp=0))

    assert decode_rows(encode_rows(rows)) == rows


def test_codec_keeps_nanosecond_timestamps_above_2_pow_53_exact() -> None:
    rows = [RecordRow(timestamp=1655235727034130944), RecordRow(timestamp=1655235727034130945)]

    decoded = decode_rows(encode_rows(rows))

    assert [r.timestamp for r in decoded] == [1655235727034130944, 1655235727034130945]


def test_codec_block_of_a_thousand_ingested_records_is_a_few_kilobytes() -> None:
    blob = encode_rows(_ingested_rows(1_000))

    # Far below DynamoDB's 400 KB item limit (raw columns alone would be 48 KB).
    assert len(blob) < 20_000


def test_codec_refuses_a_corrupt_blob() -> None:
    with pytest.raises(CorruptBlock):
        decode_rows(b"not a block")


def test_row_order_keeps_file_position_for_equal_timestamps() -> None:
    later_in_file = RecordRow(timestamp=5, data_offset=100, chunk_offset=40)
    earlier_in_file = RecordRow(timestamp=5, data_offset=100, chunk_offset=10)
    api_record = RecordRow(timestamp=5)

    ordered = sorted([later_in_file, api_record, earlier_in_file], key=RecordRow.order_key)

    assert ordered == [earlier_in_file, later_in_file, api_record]


def test_bucket_of_splits_time_into_fixed_width_buckets() -> None:
    assert bucket_of(19_999_999_999, 10_000_000_000) == 1
    assert bucket_of(20_000_000_000, 10_000_000_000) == 2


#: A block written by the version 1 encoder (before decision 32): three rows, one with an extra.
VERSION_1_BLOB = (
    "eJwLcmJkZmBgSAbiaqVkJatopZwqE6VYHaViEDu/JCO1SC8pMR0kkgkSMU0ySDJMMUvVtUg0T9U1STNI1rVMNDXVNUgzSTNJBAqm"
    "GBmCFFcoWVUrGYGIvPySVCUrpTyl2tpahkXpO+Wn/BBjZICA/yJvQbYziApA+DBaQxlCn2BApQWhNA+UdoCZAwUaUL4imjgDGh9Z"
    "DCYOACj7RTY="
)


def test_codec_still_reads_blocks_of_the_first_format() -> None:
    ingestion = "5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21"

    rows = decode_rows(base64.b64decode(VERSION_1_BLOB))

    assert rows == [
        RecordRow(1655235727034130944, 4117, 200, "lz4", 12, 40, None, ingestion),
        RecordRow(1655235727034130945, 4117, 200, "lz4", 64, 33, None, ingestion),
        RecordRow(1655235727100000000, 9000, 17, None, None, None, "other.bag", None, {"note": "n"}),
    ]


#: The same rows written by the version 2 encoder (shuffled planes, all of them stored).
VERSION_2_BLOB = (
    "eJwLcmJiZmBgSAbiaqVkJatopZwqE6VYHaViEDu/JCO1SC8pMR0kkgkSMU0ySDJMMUvVtUg0T9U1STNI1rVMNDXVNUgzSTNJBAqm"
    "GBmCFFcoWVUrGYGIvPySVCUrpTyl2tpaBsb/ixhE0hne7mRglmdgmMLA8IOBQYyBQZRBWIBBmAEDnDghiCkIBDwm+xkY/mMiDUUs"
    "gmjo/38GOEIWBwBy50Sh"
)


def test_codec_still_reads_blocks_of_the_second_format() -> None:
    blob = base64.b64decode(VERSION_2_BLOB)

    assert zlib.decompress(blob)[2] == 2
    assert decode_rows(blob) == decode_rows(base64.b64decode(VERSION_1_BLOB))


def test_codec_writes_the_third_format_without_its_constant_byte_planes() -> None:
    rows = _ingested_rows(4_000)

    blob = encode_rows(rows)

    body = zlib.decompress(blob)
    assert body[2] == 3
    # 52 byte planes a row. These rows share their compression, ingestion, data offset and length and
    # source (null); time steps take 3 bytes, chunk offset steps and chunk lengths 2: 7 planes vary.
    assert len(body) < 8 * len(rows)
    assert len(blob) < 6 * len(rows)  # version 1 took 8.5 bytes a row for these random gaps and lengths
    assert decode_rows(blob) == rows


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [RecordRow(timestamp=7)],
        [RecordRow(timestamp=7, data_offset=1, data_length=2)] * 3,  # every plane constant
        [RecordRow(timestamp=t, data_offset=-(2**62) + 3 * t, data_length=2**40 + t) for t in range(300)],
    ],
    ids=["empty", "one row", "all planes constant", "every plane varying"],
)
def test_codec_round_trips_blocks_whatever_their_constant_planes(rows: list[RecordRow]) -> None:
    blob = encode_rows(rows)

    assert decode_rows(blob) == rows
    assert decode_timestamps(blob).tolist() == [row.timestamp for row in rows]


def test_codec_refuses_a_third_format_block_that_is_short_long_or_names_no_plane() -> None:
    body = zlib.decompress(encode_rows(_ingested_rows(50)))
    mask = 11 + int.from_bytes(body[7:11], "little") + 8  # the timestamps': after tables and first value

    for broken in (body[:-1], body + b"\0", body[:mask] + b"\xff" + body[mask + 1 :]):
        with pytest.raises(CorruptBlock):
            decode_rows(zlib.compress(broken))
    with pytest.raises(CorruptBlock):
        decode_timestamps(zlib.compress(body[: mask + 5]))


def test_block_columns_search_and_slice_without_making_every_row() -> None:
    rows = sorted(_ingested_rows(500), key=RecordRow.order_key)
    columns = BlockColumns.from_rows(rows)
    low, high = rows[100].timestamp, rows[199].timestamp

    start, stop = columns.span(low, high)

    assert [r.timestamp for r in columns.rows(start, stop)] == [
        r.timestamp for r in rows if low <= r.timestamp <= high
    ]
    assert columns.span(None, None) == (0, 500)
    assert columns.span(rows[-1].timestamp + 1, None) == (500, 500)
    assert columns.message_bytes() == sum(r.message_size for r in rows)


def test_block_columns_sort_into_record_order_and_keep_extras_with_their_rows() -> None:
    rows = [
        RecordRow(5, 100, 1, extra={"note": "b"}),
        RecordRow(5, 10, 1),
        RecordRow(1, None, None, extra={"note": "a"}),
        RecordRow(5, None, None),
    ]

    ordered = BlockColumns.from_rows(rows).sorted().rows()

    assert ordered == sorted(rows, key=RecordRow.order_key)
    assert [r.extra for r in ordered] == [{"note": "a"}, None, {"note": "b"}, None]


def test_codec_decodes_the_timestamps_alone_in_every_format() -> None:
    rows = sorted(_ingested_rows(3_000), key=RecordRow.order_key)

    assert decode_timestamps(encode_rows(rows)).tolist() == [r.timestamp for r in rows]
    for old in (VERSION_1_BLOB, VERSION_2_BLOB):
        assert decode_timestamps(base64.b64decode(old)).tolist() == [
            1655235727034130944,
            1655235727034130945,
            1655235727100000000,
        ]
    with pytest.raises(CorruptBlock):
        decode_timestamps(encode_rows(rows)[:40])


def test_decoded_blocks_keep_blocks_by_their_bytes_until_their_weight_passes_the_budget() -> None:
    first, second, third = (encode_rows(_ingested_rows(1_000, seed)) for seed in (1, 2, 3))
    weight = DecodedBlocks.weight(first, decode_columns(first))
    assert weight > 52 * 1_000 + len(first)  # columns, blob and the objects around them
    blocks = DecodedBlocks(max_bytes=int(2.5 * weight))

    decoded = blocks.decode(first)
    again = blocks.decode(bytes(bytearray(first)))  # equal bytes read again: the same entry

    assert again is decoded
    assert (blocks.hits, blocks.misses) == (1, 1)
    assert decoded.rows() == decode_rows(first)
    with pytest.raises(ValueError, match="read-only"):
        decoded.timestamps[0] = 0  # shared by every reader
    blocks.decode(second)
    blocks.decode(first)  # now the most recently used
    blocks.decode(third)  # three blocks weigh too much: the least recently used (second) goes
    assert blocks.get(second) is None
    assert blocks.get(first) is decoded
    assert blocks.get(third) is not None
    assert len(blocks) == 2


def test_decoded_blocks_do_not_keep_blocks_with_per_record_fields() -> None:
    blocks = DecodedBlocks(max_bytes=2**20)
    rows = _ingested_rows(10)
    rows[3] = RecordRow(rows[3].timestamp, extra={"note": "changed by a command"})
    blob = encode_rows(rows)

    decoded = blocks.decode(blob)

    assert decoded.extras == {3: {"note": "changed by a command"}}
    assert blocks.get(blob) is None
    assert blocks.decode(blob) is not decoded


def test_codec_refuses_a_block_claiming_more_rows_than_a_block_may_hold() -> None:
    body = bytearray(zlib.decompress(encode_rows([RecordRow(timestamp=7)] * 3)))  # every plane constant
    body[3:7] = (MAX_ROWS + 1).to_bytes(4, "little")

    with pytest.raises(CorruptBlock, match="rows"):
        decode_rows(zlib.compress(bytes(body)))
    with pytest.raises(CorruptBlock, match="rows"):
        decode_timestamps(zlib.compress(bytes(body)))


@pytest.mark.parametrize(
    "tables",
    [
        b'{"c":[],"s":[],"i":[]}',  # no extras
        b'{"c":[1],"s":[],"i":[],"x":{}}',  # not strings
        b"[]",
        b'{"c":[],"s":[],"i":[],"x":{"a":{}}}',  # extras not keyed by row
        b'{"c":[],"s":[],"i":[],"x":{}}',  # the rows' compression index 0 points past the table
    ],
)
def test_codec_refuses_tables_of_the_wrong_shape_or_indexes_past_them(tables: bytes) -> None:
    body = zlib.decompress(encode_rows([RecordRow(1, 2, 3, "lz4", 4, 5)]))
    table_len = int.from_bytes(body[7:11], "little")
    broken = body[:7] + len(tables).to_bytes(4, "little") + tables + body[11 + table_len :]

    with pytest.raises(CorruptBlock):
        decode_rows(zlib.compress(broken))


def test_a_block_whose_rows_differ_from_its_item_s_count_is_corrupt() -> None:
    blob = encode_rows(_ingested_rows(10))
    block = RecordBlock(UUID(int=1), 0, "s", None, datetime.now(UTC), blob=blob, n=11, min_ts=0, max_ts=0)

    with pytest.raises(CorruptBlock, match="its item says 11"):
        block.timestamps  # noqa: B018
    with pytest.raises(CorruptBlock, match="its item says 11"):
        block.columns  # noqa: B018

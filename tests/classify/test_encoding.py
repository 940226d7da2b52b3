"""Request bodies with their content coding undone, and decompression bombs refused, within bounds."""

from __future__ import annotations

import gzip
import json
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from brownout.classify.encoding import DECODED_LIMIT
from brownout.classify.encoding import MAX_LAYERS
from brownout.classify.encoding import codings
from brownout.classify.encoding import decode_body
from brownout.classify.encoding import encode_body

BODY = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, 9),
    "x-gzip": gzip.compress,
    "deflate": lambda data: zlib.compress(data, 9),
    "br": lambda data: brotli.compress(data, quality=5),
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def zeros_gzip(size: int) -> bytes:
    """`size` zero bytes, gzipped, without holding them in memory."""
    encoder = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(encoder.compress(block) for _ in range(size // len(block))) + encoder.flush()


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_each_coding_decodes(coding: str) -> None:
    decoded = decode_body(ENCODERS[coding](BODY), coding)
    assert (decoded.content, decoded.refused) == (BODY, "")
    assert decode_body(ENCODERS[coding](BODY), coding.upper()).content == BODY


def test_raw_deflate_several_codings_and_gzip_members() -> None:
    raw_deflate = zlib.compress(BODY)[2:-4]  # what some clients send for "deflate"
    assert decode_body(raw_deflate, "deflate").content == BODY
    assert decode_body(brotli.compress(gzip.compress(BODY)), "gzip, br").content == BODY
    assert decode_body(gzip.compress(BODY), "identity, gzip").content == BODY
    members = gzip.compress(BODY[:10]) + gzip.compress(BODY[10:])
    assert decode_body(members, "gzip").content == BODY


@pytest.mark.parametrize("label", ["", "identity", "compress", "gzip", "br", "zstd", "deflate", "gzip, br"])
def test_unknown_or_false_labels_read_the_body_as_sent(label: str) -> None:
    # A plain JSON body labelled compressed, or an unknown coding: read as it is (as before decoding existed).
    assert decode_body(BODY, label) == decode_body(BODY, "")
    assert decode_body(BODY, label).content == BODY


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_truncated_streams_read_as_sent(coding: str) -> None:
    encoded = ENCODERS[coding](BODY * 50)
    cut = encoded[: len(encoded) // 2]
    decoded = decode_body(cut, coding)
    assert decoded.refused == "" and decoded.content in (cut, (BODY * 50)[: len(decoded.content or b"")])


def test_codings_lists_them_in_the_order_applied() -> None:
    assert codings("gzip, br") == ["gzip", "br"]
    assert codings(" GZIP ,identity,, zstd ") == ["gzip", "zstd"]
    assert codings("") == []


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_bomb_is_refused_quickly_without_expanding(coding: str) -> None:
    bomb = ENCODERS[coding](bytes(10 * 1024 * 1024))  # 10 MiB of zeros: 10 KB of gzip, 27 bytes of brotli
    tracemalloc.start()
    started = time.perf_counter()
    decoded = decode_body(bomb, coding)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert decoded.content is None
    assert decoded.refused.startswith(f"Content-Encoding {coding}: ")
    assert "decompression bomb" in decoded.refused
    assert peak < 4 * 1024 * 1024, f"{peak} bytes held to refuse a bomb"
    assert elapsed < 1.0  # 1 ms for gzip, 20 ms for brotli (its window's set-up); generous for a busy CI


def test_a_compressible_body_past_the_limit_is_refused() -> None:
    # Random hex compresses about twofold: no bomb, but larger than what brownout reads.
    noise = random.Random(13).randbytes(DECODED_LIMIT // 2 + 1024).hex()
    text = json.dumps({"model": "gpt-4o", "input": noise}).encode()
    assert len(text) > DECODED_LIMIT
    decoded = decode_body(gzip.compress(text, 1), "gzip")
    assert decoded.content is None and decoded.refused == f"Content-Encoding gzip: expands beyond {DECODED_LIMIT} bytes"
    small = decode_body(gzip.compress(text[: DECODED_LIMIT // 2], 1), "gzip")
    assert small.content == text[: DECODED_LIMIT // 2]


def test_nested_bombs_and_many_layers() -> None:
    # 256 MiB of zeros, gzipped twice, is a few kilobytes; the inner layer is refused at once.
    nested = gzip.compress(zeros_gzip(256 * 1024 * 1024), 9)
    started = time.perf_counter()
    decoded = decode_body(nested, "gzip, gzip")
    assert decoded.content is None and time.perf_counter() - started < 1.0
    layered = BODY
    for _ in range(MAX_LAYERS + 1):
        layered = gzip.compress(layered)
    refused = decode_body(layered, ", ".join(["gzip"] * (MAX_LAYERS + 1)))
    assert refused.content is None and refused.refused.startswith(f"{MAX_LAYERS + 1} content codings")


def test_a_zstd_frame_asking_for_a_huge_window_is_not_read() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
    frame = zstandard.ZstdCompressor(compression_params=params).compress(BODY * 10)
    assert decode_body(frame, "zstd").content in (BODY * 10, frame)  # decoded, or read as sent: never a crash


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br"])
def test_encode_body_is_undone_by_decode_body(coding: str) -> None:
    content = b'{"choices": [' + b"1," * 500 + b"1]}"
    encoded = encode_body(content, coding)
    assert encoded is not None and encoded != content
    assert decode_body(encoded, coding).content == content


def test_encode_body_refuses_what_decode_body_would_not_read() -> None:
    assert encode_body(b"{}", "compress") is None
    assert encode_body(b"{}", "gzip, gzip, gzip, gzip") is None
    assert encode_body(b"{}", "identity") == b"{}"

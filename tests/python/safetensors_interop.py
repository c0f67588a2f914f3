#!/usr/bin/env python3
"""safetensors interop between moelab and an independent writer/checker (standard library only).

  safetensors_interop.py write DIR   writes DIR/python_written.safetensors following the published
                                     format (https://github.com/huggingface/safetensors)
  safetensors_interop.py check FILE  validates a file written by moelab: header, offsets, values

Both modes use the same expected tensors (EXPECTED below); the C++ test in
tests/nn/test_safetensors_interop.cpp builds the same tensors with moelab. Exit status 0 on success.
"""
import json
import struct
import sys
from array import array

MAX_HEADER = 100_000_000
# dtype -> (struct/array code, bytes per element)
CODES = {"F64": ("d", 8), "F32": ("f", 4), "I64": ("q", 8), "I32": ("i", 4),
         "BOOL": ("B", 1), "BF16": ("H", 2), "F16": ("H", 2)}

# name -> (dtype, shape, flat values); BF16/F16 values are the raw 16-bit patterns.
EXPECTED = {
    "f32": ("F32", [2, 3], [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]),
    "f64": ("F64", [3], [1.0 / 3.0, -2.5, 1e300]),
    "i64": ("I64", [2, 2], [-(2 ** 40), 0, 7, 2 ** 62]),
    "i32": ("I32", [4], [-(2 ** 31), -1, 0, 2 ** 31 - 1]),
    "bool": ("BOOL", [5], [1, 0, 1, 1, 0]),
    "bf16": ("BF16", [3], [0x3F80, 0xC000, 0x3F00]),  # 1.0, -2.0, 0.5
    "f16": ("F16", [2], [0x3C00, 0xB800]),            # 1.0, -0.5
    "empty": ("F32", [0, 3], []),
    "scalar": ("F64", [], [42.25]),
}


def pack(dtype, values):
    a = array(CODES[dtype][0], values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def unpack(dtype, data):
    a = array(CODES[dtype][0])
    a.frombytes(data)
    if sys.byteorder != "little":
        a.byteswap()
    return list(a)


def write(directory):
    # Deliberately unlike moelab's writer: tensors in name order (not by alignment), metadata last,
    # json.dumps' default ", " / ": " separators, padded with spaces to 8 bytes.
    header, blobs, offset = {}, [], 0
    for name in sorted(EXPECTED):
        dtype, shape, values = EXPECTED[name]
        blob = pack(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = {"format": "pt", "writer": "python"}
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path = f"{directory}/python_written.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    print(f"wrote {path}")


def fail(msg):
    print(f"safetensors_interop check: {msg}", file=sys.stderr)
    sys.exit(1)


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        fail(f"bad header length {n}")
    if n % 8 != 0:
        fail(f"header length {n} is not a multiple of 8 (the reference writer pads it)")
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        fail("header does not start with '{'")
    if raw.rstrip(b" ") != raw.rstrip():
        fail("header padding is not spaces")
    pairs_seen = []
    header = json.loads(raw.decode("utf-8"), object_pairs_hook=lambda kv: pairs_seen.append(kv) or dict(kv))
    for kv in pairs_seen:
        keys = [k for k, _ in kv]
        if len(keys) != len(set(keys)):
            fail(f"duplicate keys in {keys}")
    buffer = data[8 + n:]
    meta = header.pop("__metadata__", None)
    if meta != {"format": "pt", "writer": "moelab"}:
        fail(f"metadata {meta!r}")
    if set(header) != set(EXPECTED):
        fail(f"tensor names {sorted(header)} != {sorted(EXPECTED)}")
    # Offsets tile the buffer exactly and every tensor is aligned to its element size.
    pos = 0
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        begin, end = info["data_offsets"]
        if begin != pos or end < begin:
            fail(f"{name}: data_offsets {info['data_offsets']} do not continue at {pos}")
        if begin % CODES[info["dtype"]][1] != 0:
            fail(f"{name}: offset {begin} not aligned to {CODES[info['dtype']][1]}")
        pos = end
    if pos != len(buffer):
        fail(f"tensors cover {pos} of {len(buffer)} buffer bytes")
    for name, (dtype, shape, values) in EXPECTED.items():
        info = header[name]
        if info["dtype"] != dtype or info["shape"] != shape:
            fail(f"{name}: dtype/shape {info['dtype']} {info['shape']} != {dtype} {shape}")
        begin, end = info["data_offsets"]
        got = unpack(dtype, buffer[begin:end])
        if got != values:
            fail(f"{name}: values {got} != {values}")
    print(f"checked {path}: {len(EXPECTED)} tensors ok")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("write", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    write(argv[2]) if argv[1] == "write" else check(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

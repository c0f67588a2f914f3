"""Writes golden tensors for moelab's tests in a small text format the C++ tests read.

Each file holds named tensors:
    tensor NAME DTYPE NDIM D0 D1 ...
    v0 v1 v2 ...            (row-major values on one line; floats with 17 significant digits)

Run the generators with Debian's python3-torch (1.13): /usr/bin/python3 tests/golden/gen_<family>.py.
Tests never import torch; they read the committed .txt files.
"""
import os
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {torch.float32: "f32", torch.float64: "f64", torch.int32: "i32", torch.int64: "i64", torch.bool: "bool"}


class GoldenWriter:
    def __init__(self, name):
        self.path = os.path.join(HERE, name + ".txt")
        self.lines = []
        self.names = set()

    def add(self, name, t):
        t = torch.as_tensor(t).detach().contiguous()
        assert name not in self.names, name
        assert " " not in name, name
        self.names.add(name)
        dt = DTYPES[t.dtype]
        shape = list(t.shape)
        self.lines.append(f"tensor {name} {dt} {len(shape)} {' '.join(map(str, shape))}".rstrip())
        flat = t.reshape(-1).tolist()
        if dt in ("f32", "f64"):
            self.lines.append(" ".join(fmt_float(v) for v in flat))
        else:
            self.lines.append(" ".join(str(int(v)) for v in flat))

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        os.replace(tmp, self.path)  # atomic: a crash never leaves half a file
        print(f"wrote {self.path}: {len(self.names)} tensors")


def fmt_float(v):
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))

"""Generates the Python code of the .proto files under proto/ (`make proto`).

    python proto/generate.py [--out DIR]

writes `clarion/v1/events_pb2.py`, `events_pb2.pyi` and `events_pb2_grpc.py` under DIR (the
repository root by default), with the protoc bundled in grpcio-tools (pinned in
constraints.txt), so the committed code is what this command produces.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.resources import files
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
BASE_DIR = PROTO_DIR.parent
PROTOS = sorted(PROTO_DIR.rglob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Run protoc over every .proto under proto/; the files it wrote under `out`."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    well_known = files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(path.relative_to(PROTO_DIR)) for path in PROTOS),
    ]
    # Relative proto paths (run from proto/) keep absolute paths out of the generated code.
    cwd = os.getcwd()
    os.chdir(PROTO_DIR)
    try:
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
    finally:
        os.chdir(cwd)
    written = []
    for proto in PROTOS:
        stem = proto.relative_to(PROTO_DIR).with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            written.append(out / stem.parent / f"{stem.name}{suffix}")
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BASE_DIR)
    options = parser.parse_args(argv)
    for path in generate(options.out.resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

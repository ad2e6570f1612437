"""The committed gRPC code is what `make proto` generates from proto/."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import BASE_DIR


def test_the_committed_generated_code_is_up_to_date(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "proto" / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    generated = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*_pb2*.py*"))
    assert generated, "protoc wrote nothing"
    committed = sorted(
        path.relative_to(BASE_DIR) for path in (BASE_DIR / "clarion").rglob("*_pb2*.py*")
    )
    assert committed == generated, "run `make proto` and commit the result"
    for path in generated:
        assert (BASE_DIR / path).read_bytes() == (tmp_path / path).read_bytes(), (
            f"{path} differs from what proto/ generates: run `make proto` and commit it"
        )

"""pve_gpu_lxc_testing.lxc.subids: /etc/subuid and /etc/subgid granted and restored byte for byte."""

from __future__ import annotations

import pytest

from pve_gpu_lxc_testing.lxc import subids


@pytest.mark.parametrize("original", [b"", b"root:100000:65536\n", b"root:100000:65536", b"x:1:2\n# c\n"])
def test_grant_adds_missing_lines_and_restores_bytes(tmp_path, original: bytes) -> None:  # type: ignore[no-untyped-def]
    uid, gid = tmp_path / "subuid", tmp_path / "subgid"
    uid.write_bytes(original)
    with subids.granted(["root:100000:65536"], ["root:44:1", "root:44:1"], subuid=uid, subgid=gid, lock=None):
        assert "root:100000:65536" in uid.read_text().splitlines()
        assert gid.read_text() == "root:44:1\n"
    assert uid.read_bytes() == original
    assert not gid.exists()  # it did not exist before


def test_grant_restores_even_when_the_body_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uid, gid = tmp_path / "subuid", tmp_path / "subgid"
    uid.write_bytes(b"a:1:1")
    gid.write_bytes(b"b:2:2\n")
    with pytest.raises(RuntimeError):
        with subids.granted(["root:1:1"], ["root:2:2"], subuid=uid, subgid=gid, lock=None):
            raise RuntimeError("check failed")
    assert (uid.read_bytes(), gid.read_bytes()) == (b"a:1:1", b"b:2:2\n")

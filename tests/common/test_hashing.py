"""One hashing module: canonical JSON hashes equal for equal values, file and tree hashes."""

from __future__ import annotations

import hashlib
import json

from robustlab.common.hashing import canonical_json, file_hash, json_hash, tree_hash


def test_equal_values_hash_equal_whatever_their_order():
    a = {"b": [1, 2.5, None], "a": {"y": "x", "x": 1}}
    b = {"a": {"x": 1, "y": "x"}, "b": [1, 2.5, None]}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":1,"y":"x"},"b":[1,2.5,null]}'
    assert json_hash(a) == json_hash(b) != json_hash({**a, "c": 0})
    # the digest of the canonical text, so keys stored before keep resolving
    assert json_hash(a) == hashlib.sha256(json.dumps(a, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert (json_hash(a, compact=False, length=12)
            == hashlib.sha256(json.dumps(a, sort_keys=True).encode()).hexdigest()[:12])
    assert json_hash({"p": object}) == json_hash({"p": str(object)})  # anything else as str()


def test_file_and_tree_hashes_follow_the_bytes(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.py").write_bytes(b"x = 1\n")
    (tmp_path / "d" / "b.txt").write_bytes(b"ignored")
    assert file_hash(tmp_path / "d" / "a.py") == hashlib.sha256(b"x = 1\n").hexdigest()
    before = tree_hash([tmp_path / "d"])
    (tmp_path / "d" / "b.txt").write_bytes(b"changed")
    assert tree_hash([tmp_path / "d"]) == before
    (tmp_path / "d" / "a.py").write_bytes(b"x = 2\n")
    assert tree_hash([tmp_path / "d"]) != before

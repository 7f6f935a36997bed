"""The cache of trained fixtures (tests/_fixture_cache.py): built once, keyed by content, copied, relocated."""
from __future__ import annotations

import json

import pytest

from tests._fixture_cache import KEEP, FixtureCache, copy_tree, entry_key, fixture_slot


def _counting(files):
    """A build that writes ``files`` (name -> text or bytes, ``{entry}`` replaced) and counts its calls."""
    calls = []

    def build(entry, scratch):
        calls.append(entry)
        for name, content in files.items():
            path = entry / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content.replace(b"{entry}", str(entry).encode()))
            else:
                path.write_text(content.replace("{entry}", str(entry)))

    return build, calls


def test_an_entry_is_built_once_and_each_copy_is_its_own(tmp_path):
    cache = FixtureCache(tmp_path / "cache")
    build, calls = _counting({"results/run/a.txt": "weights"})
    first = cache.entry("toy", {"epochs": 1}, build)
    assert cache.entry("toy", {"epochs": 1}, build) == first and len(calls) == 1
    assert cache.built == [first.name] and cache.reused == [first.name]
    one, two = copy_tree(first / "results", tmp_path / "one"), copy_tree(first / "results", tmp_path / "two")
    (one / "run" / "a.txt").write_text("changed by a test")
    assert (two / "run" / "a.txt").read_text() == "weights" == (first / "results" / "run" / "a.txt").read_text()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".build-")]


def test_the_key_follows_the_description_and_the_helpers(tmp_path):
    helper = tmp_path / "helper.py"
    helper.write_text("EPOCHS = 8\n")
    key = entry_key("toy", {"epochs": 1}, [helper])
    assert entry_key("toy", {"epochs": 1}, [helper]) == key
    assert entry_key("toy", {"epochs": 2}, [helper]) != key and entry_key("other", {"epochs": 1}, [helper]) != key
    helper.write_text("EPOCHS = 4\n")  # the code that trains changed: another entry
    assert entry_key("toy", {"epochs": 1}, [helper]) != key


def test_a_copy_names_its_own_folder_where_the_run_named_the_build(tmp_path):
    cache = FixtureCache(tmp_path / "cache")
    build, _ = _counting({"results/run/result.json": '{"mllog": "{entry}/results/run/mllog.txt"}'})
    entry = cache.entry("toy", {}, build)
    dest = copy_tree(entry / "results", tmp_path / "res")
    assert json.loads((dest / "run" / "result.json").read_text()) == {"mllog": f"{dest}/run/mllog.txt"}


def test_an_entry_whose_binary_files_name_the_build_is_refused(tmp_path):
    cache = FixtureCache(tmp_path / "cache")
    build, _ = _counting({"checkpoint.pt": b"\x80\x00{entry}\x00"})
    with pytest.raises(RuntimeError, match="cannot be cached"):
        cache.entry("toy", {}, build)
    assert list((tmp_path / "cache").iterdir()) == []


def test_only_the_last_versions_of_a_fixture_are_kept(tmp_path):
    """Entries of one fixture made by other code (here: another helper) go beyond KEEP; other fixtures stay."""
    cache = FixtureCache(tmp_path / "cache")
    build, calls = _counting({"a.txt": "x"})
    helper = tmp_path / "helper.py"
    for version in range(KEEP + 2):
        helper.write_text(f"VERSION = {version}\n")
        cache.entry("toy", {"epochs": 1}, build, helpers=[helper])
    for epochs in range(2, KEEP + 4):
        cache.entry("toy", {"epochs": epochs}, build, helpers=[helper])
    slots = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache").iterdir())
    assert slots.count(fixture_slot("toy", {"epochs": 1})) == KEEP
    assert len(slots) == KEEP + KEEP + 2 and len(calls) == 2 * KEEP + 4

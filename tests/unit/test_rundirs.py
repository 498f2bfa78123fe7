"""Temporary directories are named after the process that made them; a sweep removes
exactly those of our user whose maker is gone."""

from __future__ import annotations

import os
import subprocess
import sys

from dora_supervisor import rundirs


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_directory_is_private_and_named_after_its_maker(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    path = rundirs.make("link")
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path).startswith(f"dora-link-{os.getpid()}-")
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_only_directories_of_dead_makers_are_swept(tmp_path):
    dead = tmp_path / f"dora-link-{dead_pid()}-abc123"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "coordinator.sock").write_text("")
    mine = tmp_path / f"dora-ledgers-{os.getpid()}-x1"
    mine.mkdir()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as sleeper:
        try:
            living = tmp_path / f"dora-hub-{sleeper.pid}-y2"
            living.mkdir()
            unrelated = [tmp_path / "dora-notours", tmp_path / f"other-link-{dead_pid()}-z"]
            for path in unrelated:
                path.mkdir()
            a_file = tmp_path / f"dora-link-{dead_pid()}-file"
            a_file.write_text("")
            assert rundirs.sweep(str(tmp_path)) == [str(dead)]
            assert not dead.exists()
            assert all(p.exists() for p in [mine, living, *unrelated, a_file])
        finally:
            sleeper.kill()


def test_a_missing_directory_sweeps_nothing(tmp_path):
    assert rundirs.sweep(str(tmp_path / "absent")) == []

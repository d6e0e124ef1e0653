"""What an operator reads from the CLI when something is wrong."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import RunningEngine, running_demo, start_engine


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("cli")) as running:
        yield running


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "console", args[0], "--state-dir", str(state_dir), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_stale_revision_shows_the_current_split_and_changes_nothing(demo: RunningEngine) -> None:
    current = cli(demo.state_dir, "status", "--json")
    assert current.returncode == 0
    done = cli(demo.state_dir, "traffic", "set", "fraud", "fraud-v1=50", "fraud-v2=50", "--if-match", "999")
    assert done.returncode == 1
    assert "409" in done.stderr
    assert "current: revision 1: fraud-v1=90 fraud-v2=10" in done.stderr
    assert "nothing was changed" in done.stderr
    with demo.client() as client:
        assert client.endpoint("fraud")["revision"] == 1


def test_several_problems_are_listed_once_each(demo: RunningEngine) -> None:
    done = cli(demo.state_dir, "traffic", "set", "fraud", "fraud-v1=60", "fraud-v2=60", "--mirror", "fraud-v3=70")
    assert done.returncode == 1
    assert "the engine refused it" in done.stderr
    assert done.stderr.count("sum to 120") == 1 and done.stderr.count("total 70") == 1


def test_traffic_set_prints_before_and_after(demo: RunningEngine) -> None:
    done = cli(demo.state_dir, "traffic", "set", "fraud", "fraud-v1=80", "fraud-v2=20", "--mirror", "fraud-v3=10")
    assert done.returncode == 0, done.stderr
    assert "before: fraud-v1=90 fraud-v2=10" in done.stdout
    assert "after:  fraud-v1=80 fraud-v2=20 (mirror fraud-v3=10)" in done.stdout
    back = cli(demo.state_dir, "rollback", "fraud", "--reason", "cli test")
    assert back.returncode == 0, back.stderr
    assert "after:  fraud-v1=90 fraud-v2=10" in back.stdout
    history = cli(demo.state_dir, "revisions", "fraud")
    assert "(mirror fraud-v3=10)" in history.stdout and "(restores 1)" in history.stdout


def test_logs_of_an_unknown_replica_name_the_real_ones(demo: RunningEngine) -> None:
    done = cli(demo.state_dir, "logs", "fraud-v1", "--replica", "bogus")
    assert done.returncode == 1
    assert "has no replica 'bogus'" in done.stderr and "fraud-v1-" in done.stderr


def test_demo_traffic_refuses_a_rate_of_zero(demo: RunningEngine) -> None:
    done = cli(demo.state_dir, "demo", "traffic", "--rps", "0")
    assert done.returncode == 2
    assert "must be more than 0" in done.stderr and "Traceback" not in done.stderr


def test_an_engine_that_went_away_is_explained(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "state")
    info = (tmp_path / "state" / "engine.json").read_text()
    engine.kill()  # SIGKILL: engine.json stays behind
    (tmp_path / "state" / "engine.json").write_text(info)
    done = cli(tmp_path / "state", "status")
    assert done.returncode == 1
    assert "not running" in done.stderr or "not answering" in done.stderr
    assert "switchboard engine --state-dir" in done.stderr

"""`livesync run` / `livesync watch` entry points against a real server."""

from __future__ import annotations

import io
import json
import threading

import pytest

from client.cli import display, run_main, watch_main
from tests.helpers.cli import livesync


def run(argv):
    out = io.StringIO()
    code = run_main(argv, out=out)
    return code, out.getvalue()


def test_run_finds_the_kind_and_prints_the_result(server):
    code, out = run(["notes:add", '{"body": "cli"}', "--url", server.url])
    assert code == 0 and isinstance(json.loads(out), str)
    code, out = run(["notes:bodies", "--url", server.url])
    assert (code, json.loads(out)) == (0, ["cli"])


def test_livesync_run_runs_each_kind_without_being_told(server):
    # The server says what PATH is (/api/function); nothing is tried first.
    added = livesync("run", "notes:add", '{"body": "by cli"}', "--url", server.url)
    assert (added.returncode, added.stderr) == (0, "")
    assert isinstance(json.loads(added.stdout), str)
    listed = livesync("run", "notes:bodies", "--url", server.url)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, ["by cli"])
    echoed = livesync("run", "notes:echo", '{"value": [1, "two"]}', "--url", server.url)
    assert (echoed.returncode, json.loads(echoed.stdout)) == (0, [1, "two"])


@pytest.mark.parametrize("path", ["notes:nope", "nope:add", "notes:secret"])
def test_livesync_run_on_no_public_function_says_so(server, path):
    # An internal function is answered exactly as a missing one.
    done = livesync("run", path, "--url", server.url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"Could not find public function for '{path}'" in done.stderr


def test_livesync_run_with_the_wrong_kind_names_the_real_one(server):
    done = livesync("run", "notes:add", '{"body": "x"}', "--kind", "query", "--url", server.url)
    assert done.returncode == 1
    assert "Trying to execute notes:add as Query, but it is defined as Mutation" in done.stderr
    assert json.loads(livesync("run", "notes:bodies", "--url", server.url).stdout) == []


def test_run_with_explicit_kind_and_int64_argument(server):
    code, out = run(
        [
            "notes:echo",
            '{"value": {"$integer": "BQAAAAAAAAA="}}',
            "--kind",
            "action",
            "--url",
            server.url,
        ]
    )
    assert (code, out.strip()) == (0, "5")


def test_run_reports_app_error_data_and_exits_one(server, capsys):
    code, _ = run(["notes:refuse", '{"code": {"$integer": "AQAAAAAAAAA="}}', "--url", server.url])
    assert code == 1
    assert 'data: {"code": 1}' in capsys.readouterr().err


def test_run_against_nothing_exits_two(unused_tcp_port, capsys):
    code, _ = run(["notes:bodies", "--url", f"http://127.0.0.1:{unused_tcp_port}"])
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_args_json_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        run(["notes:bodies", "[1, 2]"])
    assert exited.value.code == 2


class LineSignal(io.StringIO):
    """An output stream that signals each written line."""

    def __init__(self) -> None:
        super().__init__()
        self.first_line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "\n" in text:
            self.first_line.set()
        return written


def test_watch_prints_each_new_result(server):
    out = LineSignal()
    argv = ["notes:bodies", "--url", server.url, "--count", "2"]
    codes: list[int] = []
    watcher = threading.Thread(target=lambda: codes.append(watch_main(argv, out=out)))
    watcher.start()
    assert out.first_line.wait(20)
    assert run(["notes:add", '{"body": "w"}', "--url", server.url])[0] == 0
    watcher.join(20)
    assert codes == [0]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [[], ["w"]]


def test_display_shows_int64_bytes_and_non_finite_floats():
    assert display({"n": 2**63 - 1, "b": b"\x01", "f": float("nan")}) == (
        '{"n": 9223372036854775807, "b": {"$bytes": "AQ=="}, "f": "nan"}'
    )

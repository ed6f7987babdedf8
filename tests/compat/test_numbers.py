"""Numbers through both official clients: a Python int is a float64 (a JS
`number`, a Python `float` in the official Python client), `Int64` is an
int64 (a JS `bigint`, a `ConvexInt64`), integer claims are numbers, and a
bad argument fails with Convex's ArgumentValidationError wording."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from convex import ConvexClient, ConvexInt64

from server.dev_issuer import request_token
from tests.helpers.issuer import ProcessIssuer, running_issuer_process
from tests.helpers.node import run_node_script
from tests.helpers.server import StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

COMPAT_DIR = Path(__file__).resolve().parent
FUNCTIONS_DIR = COMPAT_DIR / "functions"
ARGUMENT_ERROR = (
    "ArgumentValidationError: Value does not match validator.\n"
    "Path: .channel\nValue: 5\nValidator: v.string()"
)


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[ProcessIssuer]:
    # Its own process: the official Python client holds the GIL while it blocks.
    with running_issuer_process(tmp_path / "issuer-keys") as running:
        yield running


@pytest.mark.usefixtures("node_ready")
def test_js_client_gets_numbers_for_ints_and_bigints_for_int64(
    start_server: StartServer, issuer: ProcessIssuer
) -> None:
    server = start_server(FUNCTIONS_DIR, config_extra=issuer.provider_config())
    result = run_node_script(COMPAT_DIR / "js" / "numbers.mjs", [server.url, issuer.url])
    assert result.named("passed"), str(result)
    summary = result.one("summary")
    assert summary["types"] == {"count": "number", "stored": "number", "exact": "bigint"}
    assert (summary["count"], summary["next"], summary["stored"]) == (1, 2, 5)
    assert summary["exact"] == f"{2**62}n"
    # Read back in the function: the stored 5 is an int, so range() works.
    assert summary["seen"] == ["int", "Int64"] and summary["steps"] == [0, 1, 2, 3, 4]
    echo = result.one("echo")
    assert echo["types"] == ["int", "Int64", "float"]
    # Refused, never rounded: the message names the value and the way out.
    too_big = result.one("too_big")
    assert not too_big["isConvexError"]
    assert "int 1152921504606846977 cannot be represented exactly" in too_big["message"]
    assert "Int64(1152921504606846977)" in too_big["message"]
    assert ARGUMENT_ERROR in result.one("refused")["message"]
    record = result.one("record")
    assert (record["total"], record["names"]) == (3.5, ["ann", "bob"])
    assert (
        'Path: .scores.bob\nValue: "x"\nValidator: v.float64()'
        in (result.one("bad_record")["message"])
    )
    claims = result.one("claims")
    assert (claims["age"], claims["ageType"]) == (42, "number")
    assert (claims["seats"], claims["seatsType"]) == (3, "number")


def test_python_client_gets_floats_for_ints_and_convex_int64_for_int64(
    start_server: StartServer, issuer: ProcessIssuer
) -> None:
    server = start_server(FUNCTIONS_DIR, config_extra=issuer.provider_config())
    client = ConvexClient(server.url)
    client.set_auth(request_token(issuer.url, "user_1", extra={"age": 42}))
    assert client.mutation("numbers:add", {"label": "a"}) == 1.0
    summary = client.query("numbers:summary")
    # The Rust-based client reads every JSON number as a float64.
    assert summary["count"] + 1 == 2.0 and isinstance(summary["count"], float)
    assert summary["stored"] == 5.0
    assert summary["exact"] == ConvexInt64(2**62)
    echo = client.query("numbers:echo", {"n": 3, "i": ConvexInt64(7), "f": 2.5})
    assert echo["types"] == ["int", "Int64", "float"]
    assert echo["i"] == ConvexInt64(7) and echo["n"] == 3.0
    with pytest.raises(Exception, match="ArgumentValidationError") as refused:
        client.query("numbers:strict", {"channel": 5})
    assert ARGUMENT_ERROR in str(refused.value)
    assert client.query("numbers:total", {"scores": {"ann": 1, "bob": 2.5}}) == {
        "total": 3.5,
        "names": ["ann", "bob"],
    }
    with pytest.raises(Exception, match=r"Path: \.scores\.bob"):
        client.query("numbers:total", {"scores": {"ann": 1, "bob": "x"}})
    claims = client.query("numbers:claims")
    assert claims["age"] == 42.0 and not isinstance(claims["age"], ConvexInt64)

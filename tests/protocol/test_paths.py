from __future__ import annotations

import pytest

from protocol.errors import RemoteProtocolError
from protocol.paths import canonicalize_udf_path


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("messages", "messages:default"),
        ("messages:list", "messages:list"),
        ("messages.js:list", "messages:list"),
        ("dir/file.js:fn", "dir/file:fn"),
        ("dir/file", "dir/file:default"),
        ("messages.js", "messages:default"),
        ("a:b:c", "a:b:c"),
    ],
)
def test_function_paths_are_canonicalised(given: str, canonical: str) -> None:
    assert canonicalize_udf_path(given) == canonical


@pytest.mark.parametrize("path", ["", ":fn", "mod:", ".js:fn", None])
def test_empty_paths_or_parts_are_refused(path: object) -> None:
    with pytest.raises(RemoteProtocolError, match="function path"):
        canonicalize_udf_path(path)  # type: ignore[arg-type]

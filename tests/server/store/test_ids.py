"""Document ids carry their table's tag and a checksum."""

from __future__ import annotations

import re

from server.store.ids import ID_LENGTH, id_matches_table, is_id, new_id


def test_new_id_is_32_lowercase_base32_characters() -> None:
    doc_id = new_id("messages")
    assert len(doc_id) == ID_LENGTH == 32
    assert re.fullmatch(r"[a-z2-7]{32}", doc_id)


def test_new_ids_are_distinct() -> None:
    assert len({new_id("t") for _ in range(1000)}) == 1000


def test_id_matches_its_own_table_only() -> None:
    doc_id = new_id("messages")
    assert id_matches_table(doc_id, "messages")
    assert not id_matches_table(doc_id, "users")


def test_table_tag_is_stable_for_a_given_table() -> None:
    fixed = new_id("messages", random_bytes=lambda n: b"\x00" * n)
    assert fixed == new_id("messages", random_bytes=lambda n: b"\x00" * n)
    assert fixed[:3] == new_id("messages")[:3]


def test_a_changed_character_breaks_the_checksum() -> None:
    # Fixed randomness: a 16-bit checksum misses 1 change in 65,536 by chance.
    doc_id = new_id("messages", random_bytes=lambda n: bytes(range(n)))
    assert is_id(doc_id)
    for position in range(ID_LENGTH):
        replacement = "a" if doc_id[position] != "a" else "b"
        assert not is_id(doc_id[:position] + replacement + doc_id[position + 1 :])


def test_malformed_strings_are_not_ids() -> None:
    doc_id = new_id("t")
    for candidate in ["", doc_id[:-1], doc_id + "a", doc_id.upper(), "1" * 32, 42, None]:
        assert not is_id(candidate)
        assert not id_matches_table(candidate, "t")

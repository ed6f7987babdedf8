"""The react-chat example in headless Chromium against a real `livesync dev`.

Each test builds nothing itself: the session fixtures build the app once
(dev-auth mode), serve it from its own origin, and each test gets a fresh
server with the chat functions and a dev issuer. The Node script
examples/react-chat/e2e/chat.mjs drives the browser and prints what it saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import APP_DIR, CHAT_FUNCTIONS, DevServer
from tests.helpers.node import NodeResult, NodeScriptError, run_node_script
from tests.helpers.timeouts import NODE_SCENARIO, scaled

SCRIPT = APP_DIR / "e2e" / "chat.mjs"
README_SCREENSHOT = APP_DIR / "screenshot.png"


def _drive(scenario: str, app_url: str, server: DevServer, *extra: str) -> NodeResult:
    try:
        result = run_node_script(
            SCRIPT, [scenario, app_url, server.url, *extra], timeout=NODE_SCENARIO
        )
    except NodeScriptError as error:
        raise AssertionError(f"{error}\nserver stderr:\n{server.stderr_text()}") from None
    assert not result.named("page_error"), str(result)
    return result


@pytest.mark.usefixtures("browser_ready")
def test_page_walks_through_sign_in_own_messages_live_channel_and_sign_out(
    app_url: str, dev_server: DevServer, tmp_path: Path
) -> None:
    screenshot = tmp_path / "signed-in.png"
    result = _drive("chat", app_url, dev_server, str(screenshot))

    # AuthLoading while the auth module reaches the issuer, then Unauthenticated.
    assert result.one("loaded")["states"] == ["auth-loading", "unauthenticated"]

    signed_in = result.one("signed_in")
    assert signed_in["whoami"] == "Signed in as alice@example.com"
    assert signed_in["mine"] == []

    sent = result.one("alice_sent")
    assert sent["mine"] == ["hello from alice"]
    assert sent["channel"] == ["hello from alice"]

    # Bob's own list is his alone; the shared channel shows Alice's message.
    bob = result.one("bob_signed_in")
    assert bob["mine"] == []
    assert bob["channel"] == ["hello from alice"]

    live = result.one("live")
    assert live["alice_mine"] == ["hello from alice", "second from alice"]
    assert live["bob_mine"] == ["hi from bob"]
    newest_first = ["hi from bob", "second from alice", "hello from alice"]
    assert live["alice_channel"] == newest_first
    assert live["bob_channel"] == newest_first

    signed_out = result.one("signed_out")
    assert signed_out["states"][-1] == "unauthenticated"
    assert signed_out["authenticated_left"] == 0

    assert screenshot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("LIVESYNC_UPDATE_SCREENSHOT"):
        shutil.copyfile(screenshot, README_SCREENSHOT)


@pytest.mark.usefixtures("browser_ready")
def test_page_keeps_updating_across_refreshes_of_8_second_tokens(
    app_url: str, dev_server: DevServer
) -> None:
    result = _drive("refresh", app_url, dev_server)

    rounds = result.named("refreshed")
    assert [r["round"] for r in rounds] == [1, 2, 3]
    done = result.one("refresh_done")
    # Three scheduled refreshes past sign-in; by then the first tokens have expired.
    assert done["tokens"] >= 4
    assert done["seconds"] > 8
    assert done["mine"] == ["after refresh 1", "after refresh 2", "after refresh 3"]
    # A refresh never drops the page back to AuthLoading or Unauthenticated.
    assert done["states_since_sign_in"] == ["authenticated"]


@pytest.mark.usefixtures("app_modules")
def test_generated_api_types_check_against_the_app(tmp_path: Path) -> None:
    """api.d.ts types the app's calls: tsc accepts the app, and rejects a wrong argument."""
    from server.codegen import codegen_main

    generated = APP_DIR / "src" / "generated"
    fresh = tmp_path / "generated"
    assert codegen_main(["--functions", str(CHAT_FUNCTIONS), "--out", str(fresh)]) == 0
    for name in ("api.js", "api.d.ts"):
        assert (generated / name).read_text() == (fresh / name).read_text(), (
            f"{name} is stale: run `npm run codegen` in examples/react-chat"
        )

    typecheck = APP_DIR / "node_modules" / ".bin" / "tsc"
    ok = _tsc(typecheck, APP_DIR / "tsconfig.json")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "wrong.ts").write_text(
        f'import {{ api }} from "{generated.as_posix()}/api";\n'
        'import type { FunctionArgs } from "convex/server";\n'
        'const args: FunctionArgs<typeof api.messages.send> = { channel: "general", body: 5 };\n'
        "export default args;\n"
    )
    (wrong / "tsconfig.json").write_text(
        json.dumps({"extends": str(APP_DIR / "tsconfig.json"), "include": ["wrong.ts"]})
    )
    # Bare imports in wrong.ts resolve through the app's packages.
    (wrong / "node_modules").symlink_to(APP_DIR / "node_modules")
    bad = _tsc(typecheck, wrong / "tsconfig.json")
    assert bad.returncode != 0
    # One error, at `body: 5`: the generated type says body is a string.
    errors = bad.stdout.strip().splitlines()
    assert len(errors) == 1, bad.stdout
    assert "Type 'number' is not assignable to type 'string'" in errors[0]


def _tsc(tsc: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tsc), "--noEmit", "-p", str(project)],
        cwd=project.parent,
        capture_output=True,
        text=True,
        timeout=scaled(120.0),
        check=False,
    )


@pytest.mark.usefixtures("browser_ready")
def test_paginated_history_stays_contiguous_as_messages_are_sent_and_deleted(
    app_url: str, dev_server: DevServer
) -> None:
    result = _drive("pages", app_url, dev_server)

    steps = {event["step"]: event["shown"] for event in result.named("history")}
    assert steps["first_page"] == ["m07", "m06", "m05"]
    assert steps["two_pages"] == ["m07", "m06", "m05", "m04", "m03", "m02"]
    # usePaginatedQuery's pages grow and shrink in place: m05, the last row of
    # page 1, is not pushed out by m08; deleting m06 shows no row twice.
    assert steps["sent_into_page_1"] == ["m08", "m07", "m06", "m05", "m04", "m03", "m02"]
    assert steps["deleted_from_page_1"] == ["m08", "m07", "m05", "m04", "m03", "m02"]
    assert steps["deleted_page_2_end"] == ["m08", "m07", "m05", "m04", "m03"]
    assert steps["last_page"] == ["m08", "m07", "m05", "m04", "m03", "m01"]
    grown = ["m12", "m11", "m10", "m09", "m08", "m07", "m05", "m04", "m03", "m01"]
    assert steps["grown_page_1"] == grown
    assert steps["deleted_after_split"] == [body for body in grown if body != "m11"]

    seen = result.one("history_seen")
    # Page 1 (7 rows, asked for 3) was split: two page queries, the first
    # from the start to the split cursor, the second from there to page 1's end.
    first, second = seen["splitAdds"][:2]
    assert first["cursor"] is None and first["endCursor"] == second["cursor"]
    assert second["endCursor"] not in (None, second["cursor"])

    # No list the page ever rendered repeated a message or broke the order.
    lists = seen["lists"]
    assert len(lists) >= 7
    for shown in lists:
        assert len(set(shown)) == len(shown), shown
        assert shown == sorted(shown, reverse=True), shown


@pytest.mark.usefixtures("browser_ready")
def test_a_vanishing_message_is_deleted_by_the_scheduler_while_the_page_watches(
    app_url: str, dev_server: DevServer
) -> None:
    result = _drive("vanish", app_url, dev_server)
    shown = result.one("vanishing_shown")
    assert shown["channel"] == ["gone in a second", "here to stay"]
    assert shown["marked"] == ["gone in a second"]
    vanished = result.one("vanished")
    assert vanished["channel"] == ["here to stay"]


@pytest.mark.usefixtures("browser_ready")
def test_an_image_attached_by_one_user_loads_for_another(
    app_url: str, dev_server: DevServer
) -> None:
    result = _drive("image", app_url, dev_server)
    shown = result.one("image_shown")
    assert shown["src"].startswith(f"{dev_server.url}/api/storage/")
    assert shown["size"] == [2, 1]
    assert shown["fetched"] == {"status": 200, "type": "image/png", "bytes": 73}
    assert shown["input_cleared"] == ""


@pytest.mark.usefixtures("browser_ready")
def test_a_search_shows_matches_as_one_types_and_a_new_match_arrives(
    app_url: str, dev_server: DevServer
) -> None:
    result = _drive("search", app_url, dev_server)
    searched = result.one("searched")
    assert searched["first"] == ["deploy the rocket tonight"]
    assert sorted(searched["live"]) == ["deploy again tomorrow", "deploy the rocket tonight"]
    assert result.one("no_match")["shown"] == []

"""The external leaderboard (COPILOT_ARENA_LEADERBOARD_URL): fetched in the background from a real
HTTP server on loopback, cached, bounded in size and time, labelled external."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from polyroute.arena.external import ExternalLeaderboard
from polyroute.arena.settings import ArenaSettings

BOARD = [{"model": "copilot-a", "elo": 1100}, {"model": "copilot-b", "elo": 1050}]


class Upstream:
    """What the external server answers next, and a gate that holds an answer back."""

    def __init__(self) -> None:
        self.mode = "json"
        self.requests = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.mode == "json":
            return web.json_response(BOARD)
        if self.mode == "hang":
            await self.release.wait()
            return web.json_response(BOARD)
        if self.mode == "error":
            return web.json_response({"error": "down"}, status=503)
        if self.mode == "html":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if self.mode == "big":
            return web.json_response([{"model": "x" * 1000}] * 10)
        # "big-chunked": no content-length; the size shows only while reading
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):
            await response.write(b" " * 1000)
        await response.write(b"[]")
        await response.write_eof()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    state = Upstream()
    app = web.Application()
    app.router.add_get("/leaderboard", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state, f"http://reader:s3cret@127.0.0.1:{port}/leaderboard?token=abc123"
    finally:
        state.release.set()
        await runner.cleanup()


async def test_a_refresh_caches_the_board_labelled_external_without_credentials(upstream) -> None:
    state, url = upstream
    external = ExternalLeaderboard(url, clock=lambda: 1234.5)
    before = external.snapshot()
    assert before.data is None and before.error == "not fetched yet"
    await external.refresh()
    snapshot = external.snapshot()
    assert (snapshot.label, snapshot.data, snapshot.fetched_at, snapshot.error) == (
        "external",
        BOARD,
        1234.5,
        None,
    )
    assert snapshot.source == f"http://127.0.0.1:{url.split(':')[3].split('/')[0]}/leaderboard"
    assert "s3cret" not in str(snapshot.to_json()) and "abc123" not in str(snapshot.to_json())
    # reading the snapshot never fetches
    for _ in range(3):
        external.snapshot()
    assert state.requests == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "answered HTTP 503"),
        ("html", "did not answer JSON"),
        ("big", "larger than 5000 bytes"),
        ("big-chunked", "larger than 5000 bytes"),
    ],
)
async def test_a_failed_refresh_keeps_the_last_good_board(upstream, mode: str, message: str) -> None:
    state, url = upstream
    external = ExternalLeaderboard(url, max_bytes=5_000, clock=lambda: 1.0)
    await external.refresh()
    state.mode = mode
    await external.refresh()
    snapshot = external.snapshot()
    assert snapshot.data == BOARD and snapshot.fetched_at == 1.0
    assert message in (snapshot.error or "")
    assert "s3cret" not in snapshot.error and "abc123" not in snapshot.error


async def test_a_slow_server_times_out_and_pages_are_never_held(upstream) -> None:
    state, url = upstream
    state.mode = "hang"
    external = ExternalLeaderboard(url, timeout_s=0.2, refresh_s=3600)
    await external.start()  # the first fetch runs in the background
    assert external.snapshot().error == "not fetched yet"  # answered at once while it hangs
    await asyncio.wait_for(external.wait_for_refreshes(1), timeout=30)
    assert external.snapshot().error == "no answer within 0.2 s" and external.snapshot().data is None
    await external.stop()


async def test_the_background_task_refreshes_and_stops(upstream) -> None:
    state, url = upstream
    external = ExternalLeaderboard(url, refresh_s=5)
    await external.start()
    await asyncio.wait_for(external.wait_for_refreshes(1), timeout=30)
    assert external.snapshot().data == BOARD
    await external.stop()
    assert external._task is None


def test_settings_make_one_only_when_the_url_is_set(tmp_path) -> None:
    assert ExternalLeaderboard.from_settings(ArenaSettings()) is None
    settings = ArenaSettings.from_env(
        {"COPILOT_ARENA_LEADERBOARD_URL": "https://example.test/board.json", "LOGDIR": str(tmp_path)}
    )
    external = ExternalLeaderboard.from_settings(settings)
    assert external is not None and external.url == "https://example.test/board.json"
    assert (external.timeout_s, external.max_bytes, external.refresh_s) == (10.0, 2_000_000, 600.0)

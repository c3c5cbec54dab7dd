"""A request's spend row is built once, from its record: the row journaled before the response's
last byte is the row the writer gets (unless the request ended otherwise after it), and the
attempt facts in it come from the router's AttemptInfo, not from parsing response headers."""

from __future__ import annotations

import time
from typing import Any

from polyroute.router.engine import AttemptInfo, AttemptOutcome
from polyroute.server.accounting import RequestAccount
from tests.auth.test_open_access_user_config import LOOPBACK, caller, state_with

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class Journal:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


class Writer:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def submit(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


async def account_for(tmp_path) -> tuple[RequestAccount, Journal, Writer]:
    state = state_with(tmp_path)
    state.journal, state.writer = Journal(), Writer()  # type: ignore[assignment]
    principal, _ = await caller(LOOPBACK)
    return (
        RequestAccount(state, principal, "req-1", "chat_completion", dict(BODY)),
        state.journal,
        state.writer,
    )  # type: ignore[return-value]


async def serve_second_attempt(account: RequestAccount) -> None:
    """Runs the answer inside the attempt the router would call second, on a fallback group."""
    deployment = account.state.router.resolve("m")[0]

    async def attempt(deployment, info: AttemptInfo) -> AttemptOutcome:
        account.answered(deployment, {"prompt_tokens": 3, "completion_tokens": 2})
        return AttemptOutcome()

    info = AttemptInfo(number=2, fallback=True, model_group="m-fallback", deadline=time.monotonic() + 60)
    await account.watching(attempt)(deployment, info)


async def test_the_journaled_row_is_the_row_written(tmp_path) -> None:
    account, journal, writer = await account_for(tmp_path)
    await serve_second_attempt(account)
    await account.journal()
    await account.journal()  # a second call journals nothing more
    await account.close()
    assert len(journal.rows) == 1 and len(writer.rows) == 1 and writer.rows[0] is journal.rows[0]
    row = writer.rows[0]
    assert row["model_group"] == "m-fallback" and row["metadata"] == {"attempts": 2}
    assert row["status"] == "success" and row["total_tokens"] == 5 and row["provider"] == "mock"


async def test_a_request_that_ends_otherwise_after_its_journal_gets_a_new_row(tmp_path) -> None:
    account, journal, writer = await account_for(tmp_path)
    await serve_second_attempt(account)
    await account.journal()
    account.cancelled()  # the client left during the last bytes
    await account.close()
    assert journal.rows[0]["status"] == "success"
    assert writer.rows[0]["status"] == "cancelled" and writer.rows[0]["http_status"] == 499


async def test_without_a_journal_the_row_is_built_at_the_end(tmp_path) -> None:
    account, _, writer = await account_for(tmp_path)
    account.state.journal = None
    await account.close()  # nothing served it: the requested name stays, no attempt counted
    assert len(writer.rows) == 1
    row = writer.rows[0]
    assert row["model_group"] == "m" and row["metadata"] == {} and row["model_id"] is None

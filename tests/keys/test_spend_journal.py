"""The spend journal on its own: lines reach the file before `append` returns, the last line per
request wins at recovery (a stream's final row over its progress rows), torn lines are skipped,
and segments go once every request they name is settled."""

from __future__ import annotations

import asyncio

from polyroute.spend.journal import SpendJournal


def _files(folder):
    while True:
        try:
            return sorted(p.name for p in folder.rglob("spend-journal.*.jsonl"))
        except FileNotFoundError:  # the journal's thread removed a segment or folder mid-listing
            continue


async def _wait_for(condition) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.01)


async def test_rows_are_on_file_when_append_returns_and_recovered_last_line_first(tmp_path) -> None:
    folder = tmp_path / "journal"
    journal = SpendJournal(folder, segment_max_bytes=200)
    assert await journal.start() == []
    journal.note_progress({"request_id": "stream-1", "completion_tokens": 3})
    await journal.append({"request_id": "answer-1", "spend": 1.0})
    await journal.append({"request_id": "stream-1", "completion_tokens": 9})
    text = b"".join(p.read_bytes() for p in folder.rglob("*.jsonl"))
    assert b'"answer-1"' in text and b'"completion_tokens":9' in text  # no wait for a thread
    await journal.stop()  # no durable(): as after a kill, every line is still there
    newest = sorted(folder.rglob("*.jsonl"))[-1]
    with open(newest, "ab") as handle:
        handle.write(b'{"request_id": "torn", "sp')  # a line cut by the kill
    again = SpendJournal(folder)
    rows = await again.start()
    assert sorted(r["request_id"] for r in rows) == ["answer-1", "stream-1"]
    [stream] = [r for r in rows if r["request_id"] == "stream-1"]
    assert stream["completion_tokens"] == 9 and "progress" not in stream
    again.durable(["answer-1", "stream-1"])
    await _wait_for(lambda: len(_files(folder)) == 1)  # old segments gone; the fresh one stays
    await again.stop()


async def test_a_segment_goes_only_when_every_request_in_it_is_settled(tmp_path) -> None:
    folder = tmp_path / "journal"
    journal = SpendJournal(folder, segment_max_bytes=100)
    await journal.start()
    for i in range(3):
        await journal.append({"request_id": f"r{i}", "pad": "x" * 80})  # one segment each
    await _wait_for(lambda: len(_files(folder)) == 4)  # each full segment sealed, a fresh one open
    journal.durable(["r0", "r2"])
    await _wait_for(lambda: len(_files(folder)) == 2)
    assert b'"r1"' in b"".join(p.read_bytes() for p in folder.rglob("*.jsonl"))
    journal.durable(["r1"])
    await _wait_for(lambda: len(_files(folder)) == 1)
    await journal.stop()


async def test_a_running_processs_journal_is_never_replayed_by_another(tmp_path) -> None:
    """`--workers N` share a data dir: each journals into its own locked directory."""
    folder = tmp_path / "journal"
    first = SpendJournal(folder)
    await first.start()
    await first.append({"request_id": "in-flight-elsewhere"})
    second = SpendJournal(folder)
    assert await second.start() == []  # the first one's lock is held: not an orphan
    assert first.own != second.own
    second.durable(["in-flight-elsewhere"])
    await second.stop()
    assert b"in-flight-elsewhere" in b"".join(p.read_bytes() for p in first.own.glob("*.jsonl"))
    first.durable(["in-flight-elsewhere"])
    await first.stop()
    assert list(folder.iterdir()) == []  # a clean stop with everything settled leaves nothing


async def test_a_row_appended_unawaited_reaches_the_file_and_is_recovered(tmp_path) -> None:
    """A cache hit's row (it bills nothing) is journaled without its answer waiting for it."""
    folder = tmp_path / "journal"
    journal = SpendJournal(folder)
    await journal.start()
    journal.append_unawaited({"request_id": "hit-1", "spend": 0.0})
    await journal.append({"request_id": "billed-1", "spend": 1.0})  # same turn: one batch, one write

    def on_file() -> bytes:
        while True:
            try:
                return b"".join(p.read_bytes() for p in folder.rglob("*.jsonl"))
            except FileNotFoundError:
                continue

    await _wait_for(lambda: b'"hit-1"' in on_file())
    await journal.stop()  # no durable(): as after a kill
    again = SpendJournal(folder)
    assert sorted(r["request_id"] for r in await again.start()) == ["billed-1", "hit-1"]
    await again.stop()

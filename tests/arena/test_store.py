"""The arena store on SQLite and PostgreSQL: battles, turns and votes, and the rules against
ballot stuffing (both answers received by the voting session, one vote per battle, a daily cap per
voter, identity leaks flagged out of the leaderboard, every model that battled stays listed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from polyroute.arena.models import ArenaBattle, ArenaFlag, ArenaTurn, ArenaVote
from polyroute.arena.settings import ArenaSettings
from polyroute.arena.store import ArenaStore
from polyroute.errors import ConflictError, InvalidRequestError, NotFoundError, RateLimitError
from polyroute.store.database import Database, async_url
from tests.arena.conftest import DAY, Clock, answered_battle, caller
from tests.store.databases import pg_database


async def test_an_anonymous_battle_hides_the_models_until_its_vote(
    store: ArenaStore, database: Database
) -> None:
    who = caller()
    battle = await answered_battle(store, who)
    view = await store.battle_view(battle, who.session_id)
    assert view.models == (None, None) and view.vote is None
    assert [t.answers for t in view.turns] == [{"a": "Answer one.", "b": "Answer two."}]

    receipt = await store.vote(battle, who.session_id, "leftvote")
    assert (receipt.model_a, receipt.model_b, receipt.flagged) == ("model-x", "model-y", False)
    assert receipt.votes_left_today == 2
    view = await store.battle_view(battle, who.session_id)
    assert view.models == ("model-x", "model-y") and view.vote == "leftvote"

    [outcome] = await store.outcomes()
    assert (outcome.model_a, outcome.model_b, outcome.winner, outcome.turns) == (
        "model-x", "model-y", "model_a", 1,
    )  # fmt: skip
    assert outcome.language == "English"
    assert outcome.style["a"]["chars"] == len("Answer one.")

    async with database.session() as session:
        row = await session.get(ArenaBattle, battle)
        turns = (await session.scalars(select(ArenaTurn).order_by(ArenaTurn.side))).all()
        vote = await session.scalar(select(ArenaVote))
    # who held it: the key as its hash and display name, the team, the gateway requests behind it
    assert (row.key_hash, row.key_name, row.team_id, row.user_id) == (
        "ab" * 32,
        "sk-...wxyz",
        "team-1",
        "alice",
    )
    assert [t.request_id for t in turns] == [f"req-{battle}-a", f"req-{battle}-b"]
    assert (vote.vote_type, vote.user_id, vote.session_id) == ("leftvote", "alice", "s1")


async def test_a_vote_needs_both_answers_received_by_the_session(store: ArenaStore) -> None:
    who = caller()
    battle = await store.start_battle(who, mode="anonymous", model_a="model-x", model_b="model-y")
    with pytest.raises(ConflictError, match="both answers") as no_turn:
        await store.vote(battle, who.session_id, "tievote")
    assert no_turn.value.code == "answers_not_received"

    turn = await store.add_turn(battle, who.session_id, "hi")
    await store.record_answer(battle, who.session_id, side="a", turn_index=turn, text="A", request_id="r1")
    with pytest.raises(ConflictError, match="both answers"):
        await store.vote(battle, who.session_id, "leftvote")
    await store.record_answer(battle, who.session_id, side="b", turn_index=turn, text="B", request_id="r2")

    # a regenerate takes the answers back until the new ones arrive
    assert await store.regenerate(battle, who.session_id) == turn
    with pytest.raises(ConflictError, match="both answers"):
        await store.vote(battle, who.session_id, "leftvote")
    # a second turn opened but answered on one side only is not enough either
    await store.record_answer(battle, who.session_id, side="a", turn_index=turn, text="A2", request_id="r3")
    await store.record_answer(battle, who.session_id, side="b", turn_index=turn, text="B2", request_id="r4")
    second = await store.add_turn(battle, who.session_id, "and then?")
    await store.record_answer(battle, who.session_id, side="b", turn_index=second, text="B3", request_id="r5")
    with pytest.raises(ConflictError, match="both answers"):
        await store.vote(battle, who.session_id, "leftvote")
    await store.record_answer(battle, who.session_id, side="a", turn_index=second, text="A3", request_id="r6")
    await store.vote(battle, who.session_id, "rightvote")
    [outcome] = await store.outcomes()
    assert outcome.turns == 2 and outcome.winner == "model_b"


async def test_another_session_cannot_see_answer_or_vote(store: ArenaStore) -> None:
    battle = await answered_battle(store, caller("s1"))
    for action in (
        store.vote(battle, "s2", "leftvote"),
        store.battle_view(battle, "s2"),
        store.add_turn(battle, "s2", "hi"),
        store.record_answer(battle, "s2", side="a", turn_index=0, text="x", request_id="r"),
        store.vote("no-such-battle", "s1", "leftvote"),
    ):
        with pytest.raises(NotFoundError, match="no such battle"):
            await action
    assert await store.outcomes() == []


async def test_one_vote_per_battle_even_when_two_processes_race(
    database: Database, settings: ArenaSettings, clock: Clock
) -> None:
    # two stores on one database stand for two UI processes (each with its own in-process lock)
    first, second = ArenaStore(database, settings, clock=clock), ArenaStore(database, settings, clock=clock)
    who = caller()
    battle = await answered_battle(first, who)
    results = await asyncio.gather(
        first.vote(battle, who.session_id, "leftvote"),
        second.vote(battle, who.session_id, "rightvote"),
        return_exceptions=True,
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(accepted) == 1 and isinstance(refused[0], ConflictError), refused
    with pytest.raises(ConflictError, match="already has its vote"):
        await first.vote(battle, who.session_id, "tievote")
    assert len(await first.outcomes()) == 1
    with pytest.raises(ConflictError, match="voted on"):
        await first.add_turn(battle, who.session_id, "one more?")


async def test_the_daily_vote_cap_counts_per_voter_and_opens_at_midnight_utc(
    store: ArenaStore, clock: Clock
) -> None:
    alice, bob = caller("s1", "alice"), caller("s2", "bob")
    for _ in range(3):  # the fixture's cap
        await store.vote(await answered_battle(store, alice), alice.session_id, "tievote")
    over = await answered_battle(store, alice)
    with pytest.raises(RateLimitError, match="today's 3 votes") as capped:
        await store.vote(over, alice.session_id, "leftvote")
    assert capped.value.status == 429 and capped.value.code == "daily_vote_cap"
    assert capped.value.retry_after == 12 * 3600  # the clock stands at noon UTC
    # another voter is not affected; a new session of the same user is
    await store.vote(await answered_battle(store, bob), bob.session_id, "leftvote")
    alice_again = caller("s3", "alice")
    with pytest.raises(RateLimitError):
        await store.vote(await answered_battle(store, alice_again), "s3", "leftvote")
    clock.now += DAY / 2  # midnight UTC
    receipt = await store.vote(over, alice.session_id, "leftvote")
    assert receipt.votes_left_today == 2


async def test_the_cap_holds_when_one_voter_votes_from_several_processes_at_once(
    tmp_path: Path, settings: ArenaSettings, clock: Clock
) -> None:
    """PostgreSQL: several UI processes (stores) share it; SQLite serves one UI process."""
    capped = settings.model_copy(update={"daily_vote_cap": 2})
    async with pg_database() as url:
        database = Database(async_url(url, tmp_path))
        await database.migrate()
        try:
            stores = [ArenaStore(database, capped, clock=clock) for _ in range(5)]
            battles = [await answered_battle(stores[0], caller(f"s{i}", "carol")) for i in range(5)]
            results = await asyncio.gather(
                *(
                    s.vote(b, f"s{i}", "leftvote")
                    for i, (s, b) in enumerate(zip(stores, battles, strict=True))
                ),
                return_exceptions=True,
            )
        finally:
            await database.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 2
    assert all(isinstance(r, RateLimitError) for r in results if isinstance(r, BaseException))


async def test_a_model_that_names_itself_flags_the_battle_out_of_the_leaderboard(
    store: ArenaStore, database: Database
) -> None:
    who = caller()
    clean = await answered_battle(store, who, model_a="m-one", model_b="m-two")
    leaky = await store.start_battle(who, mode="anonymous", model_a="claude-3-haiku", model_b="m-two")
    turn = await store.add_turn(leaky, who.session_id, "who are you?")
    leaked = await store.record_answer(
        leaky, who.session_id, side="a", turn_index=turn, text="I am Claude, an AI assistant.", request_id="r"
    )
    assert leaked == "claude"
    # the battle's own model names and families count too, beyond FastChat's list
    own = await store.start_battle(who, mode="anonymous", model_a="zephyr-7b", model_b="m-three")
    await store.add_turn(own, who.session_id, "who are you?")
    assert (
        await store.record_answer(
            own, who.session_id, side="a", turn_index=0, text="Zephyr here!", request_id="r"
        )
        == "zephyr"
    )
    await store.record_answer(
        leaky, who.session_id, side="b", turn_index=turn, text="Hello.", request_id="r2"
    )
    await store.record_answer(own, who.session_id, side="b", turn_index=0, text="Hi.", request_id="r3")
    await store.vote(clean, who.session_id, "leftvote")
    receipt = await store.vote(leaky, who.session_id, "leftvote")
    assert receipt.flagged
    await store.vote(own, who.session_id, "rightvote")
    assert [(o.model_a, o.model_b) for o in await store.outcomes()] == [("m-one", "m-two")]
    # every model that ever battled stays visible
    assert await store.models_ever_battled() == ["claude-3-haiku", "m-one", "m-three", "m-two", "zephyr-7b"]
    async with database.session() as session:
        flags = (await session.scalars(select(ArenaFlag).order_by(ArenaFlag.id))).all()
    assert [(f.battle_id, f.side, f.detail) for f in flags] == [(leaky, "a", "claude"), (own, "a", "zephyr")]


async def test_a_regenerated_answer_takes_its_flag_back(store: ArenaStore) -> None:
    who = caller()
    battle = await store.start_battle(who, mode="anonymous", model_a="gpt-4o", model_b="m-two")
    await store.add_turn(battle, who.session_id, "who are you?")
    await store.record_answer(
        battle, who.session_id, side="a", turn_index=0, text="I'm ChatGPT.", request_id="r"
    )
    await store.regenerate(battle, who.session_id)
    for side in "ab":
        await store.record_answer(
            battle, who.session_id, side=side, turn_index=0, text="A helper.", request_id="r"
        )
    assert not (await store.vote(battle, who.session_id, "leftvote")).flagged
    assert len(await store.outcomes()) == 1


async def test_a_user_message_naming_a_model_flags_the_battle_as_fastchat_does(store: ArenaStore) -> None:
    who = caller()
    battle = await answered_battle(store, who, prompt="Are you ChatGPT or Claude?")
    # an answer replaced by another (a second record of the same side) takes only its own flag back
    await store.record_answer(
        battle, who.session_id, side="a", turn_index=0, text="I am Llama.", request_id="r"
    )
    await store.record_answer(
        battle, who.session_id, side="a", turn_index=0, text="A helper.", request_id="r"
    )
    await store.regenerate(battle, who.session_id)
    for side in "ab":
        await store.record_answer(battle, who.session_id, side=side, turn_index=0, text="Hi.", request_id="r")
    assert (await store.vote(battle, who.session_id, "leftvote")).flagged  # the prompt's flag stays
    assert await store.outcomes() == []


async def test_named_battles_and_chats_stay_off_the_leaderboard(store: ArenaStore) -> None:
    who = caller()
    named = await answered_battle(store, who, mode="named")
    assert (await store.battle_view(named, who.session_id)).models == ("model-x", "model-y")
    await store.vote(named, who.session_id, "leftvote")
    chat = await store.start_battle(who, mode="chat", model_a="model-z")
    await store.add_turn(chat, who.session_id, "hello")
    await store.record_answer(chat, who.session_id, side="a", turn_index=0, text="hi", request_id="r")
    with pytest.raises(InvalidRequestError, match="nothing to vote"):
        await store.vote(chat, who.session_id, "leftvote")
    assert await store.outcomes() == []
    assert await store.models_ever_battled() == ["model-x", "model-y"]


async def test_bad_input_is_refused_naming_the_field(store: ArenaStore) -> None:
    who = caller()
    cases = [
        (store.start_battle(who, mode="royal", model_a="a", model_b="b"), "mode"),
        (store.start_battle(who, mode="anonymous", model_a="a"), "model_b"),
        (store.start_battle(who, mode="anonymous", model_a="a", model_b="a"), "model_b"),
        (store.start_battle(who, mode="anonymous", model_a="a" * 257, model_b="b"), "model_a"),
        (store.start_battle(caller(session="s" * 129), mode="chat", model_a="a"), "session_id"),
    ]
    for action, param in cases:
        with pytest.raises(InvalidRequestError) as refused:
            await action
        assert refused.value.param == param
    battle = await answered_battle(store, who)
    with pytest.raises(InvalidRequestError) as bad_vote:
        await store.vote(battle, who.session_id, "upvote")
    assert bad_vote.value.param == "vote_type"
    with pytest.raises(InvalidRequestError) as bad_side:
        await store.record_answer(battle, who.session_id, side="c", turn_index=0, text="x", request_id="r")
    assert bad_side.value.param == "side"
    with pytest.raises(InvalidRequestError) as long_id:
        await store.record_answer(
            battle, who.session_id, side="a", turn_index=0, text="x", request_id="r" * 129
        )
    assert long_id.value.param == "request_id"
    with pytest.raises(InvalidRequestError) as long_prompt:
        await store.add_turn(battle, who.session_id, "x" * 30_001)
    assert long_prompt.value.param == "prompt"


async def test_two_messages_at_once_open_one_turn(store: ArenaStore) -> None:
    who = caller()
    chat = await store.start_battle(who, mode="chat", model_a="model-z")
    results = await asyncio.gather(
        *(store.add_turn(chat, who.session_id, f"q{i}") for i in range(4)), return_exceptions=True
    )
    opened = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    # each message got its own index or a 409; never two messages in one turn, never a 500
    assert len(set(opened)) == len(opened) and opened
    assert all(isinstance(r, ConflictError) and r.code == "turn_conflict" for r in refused), refused
    view = await store.battle_view(chat, who.session_id)
    assert len(view.turns) == len(opened)


async def test_the_turn_limit(database: Database, settings: ArenaSettings, clock: Clock) -> None:
    store = ArenaStore(database, settings.model_copy(update={"max_turns": 2}), clock=clock)
    who = caller()
    chat = await store.start_battle(who, mode="chat", model_a="model-z")
    assert [await store.add_turn(chat, who.session_id, "q") for _ in range(2)] == [0, 1]
    with pytest.raises(InvalidRequestError, match="limit of 2 turns") as limited:
        await store.add_turn(chat, who.session_id, "q")
    assert limited.value.code == "turn_limit"

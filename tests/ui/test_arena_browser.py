"""The arena in Chromium: an anonymous battle streamed side by side, further turns to both, a
vote that reveals the models, the leaderboard counting it; and the side-by-side page."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from tests.ui.conftest import screenshot
from tests.ui.support import MODELS, ORDINALS, FakeModels, UIServer, wait_for

MODEL_OF_ORDINAL = {ordinal: model for model, ordinal in ORDINALS.items()}


def _votes(ui: UIServer) -> dict[str, int]:
    board = httpx.get(ui.url + "/leaderboard", timeout=30).json()
    return {row["model"]: row["votes"] for row in board["rows"] if row["votes"]}


async def _answers(page: Page, side: str) -> list[str]:
    return await page.locator(f"#messages-{side} .msg.assistant").all_inner_texts()


async def test_anonymous_battle_to_a_vote_reveals_the_models_and_moves_the_leaderboard(
    signed_in: Page, ui_server: UIServer, upstream: FakeModels
) -> None:
    page = signed_in
    votes_before = _votes(ui_server)
    await page.goto(ui_server.url + "/arena")
    await page.wait_for_selector("body[data-ready='1']")
    await expect(page.locator("#name-a")).to_have_text("hidden")
    await page.fill("#prompt", "Tell me a joke.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    first_a, first_b = (await _answers(page, "a"))[0], (await _answers(page, "b"))[0]
    ordinal_a, ordinal_b = first_a.split()[0], first_b.split()[0]
    assert first_a == f"{ordinal_a} answer to: Tell me a joke." and ordinal_a != ordinal_b
    # Before the vote nothing on the page or in its data names a model.
    await expect(page.locator("#name-a")).to_have_text("hidden")
    await expect(page.locator("#name-b")).to_have_text("hidden")
    for model in MODELS:
        await expect(page.locator("body")).not_to_contain_text(model)
    state = (await (await page.request.get(ui_server.url + "/api/anonymous/state")).json())["state"]
    assert [side["model"] for side in state["sides"]] == [None, None]

    # A further turn goes to both models, each with its own history.
    await page.fill("#prompt", "Another one?")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    assert len(await _answers(page, "a")) == 2 and len(await _answers(page, "b")) == 2
    second_turn = [r.json for r in upstream.requests[-2:]]
    assert sorted(r["model"] for r in second_turn) == sorted(
        [MODEL_OF_ORDINAL[ordinal_a], MODEL_OF_ORDINAL[ordinal_b]]
    )
    for request in second_turn:
        roles = [m["role"] for m in request["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert request["messages"][1]["content"].startswith(ORDINALS[request["model"]])
    await screenshot(page, "arena-battle")

    await page.click("button.vote[data-vote='leftvote']")
    await expect(page.locator("#name-a")).to_have_text(MODEL_OF_ORDINAL[ordinal_a])
    await expect(page.locator("#name-b")).to_have_text(MODEL_OF_ORDINAL[ordinal_b])
    await expect(page.locator("#vote-status")).to_contain_text("Thanks for voting")
    await expect(page.locator("button.vote").first).to_be_disabled()
    await expect(page.locator("#send")).to_be_disabled()
    await screenshot(page, "arena-voted")

    winner, loser = MODEL_OF_ORDINAL[ordinal_a], MODEL_OF_ORDINAL[ordinal_b]
    votes_after = _votes(ui_server)
    assert votes_after[winner] == votes_before.get(winner, 0) + 1
    assert votes_after[loser] == votes_before.get(loser, 0) + 1
    await page.goto(ui_server.url + "/arena/leaderboard")
    await page.wait_for_selector("body[data-ready='1']")
    row = page.locator("#board-rows tr", has=page.locator("td", has_text=re.compile(f"^{winner}$")))
    await expect(row.locator("td").nth(4)).to_have_text(str(votes_after[winner]))
    for plot in ("#plot-ratings", "#plot-winfraction"):  # decode() settles when the image has loaded
        assert await page.locator(plot).evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    await screenshot(page, "leaderboard")
    csv = httpx.get(ui_server.url + "/leaderboard.csv", timeout=30)
    assert csv.text.splitlines()[0].startswith("rank,model,rating")
    assert winner in csv.text


async def test_a_second_vote_on_a_battle_is_refused(signed_in: Page, ui_server: UIServer) -> None:
    page = signed_in
    await page.goto(ui_server.url + "/arena")
    await page.wait_for_selector("body[data-ready='1']")
    await page.fill("#prompt", "Pick a number.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await page.click("button.vote[data-vote='tievote']")
    await expect(page.locator("#vote-status")).to_contain_text("Thanks for voting")
    csrf = await page.evaluate("document.body.dataset.csrf")
    again = await page.request.post(
        ui_server.url + "/api/anonymous/vote", data={"vote": "rightvote"}, headers={"x-csrf-token": csrf}
    )
    assert again.status == 409
    assert "already voted" in (await again.json())["error"]["message"]
    await page.click("#clear")
    await expect(page.locator("#name-a")).to_have_text("hidden")
    await expect(page.locator("#send")).to_be_enabled()


async def test_side_by_side_answers_from_the_picked_models_named_from_the_start(
    signed_in: Page, ui_server: UIServer
) -> None:
    page = signed_in
    votes_before = _votes(ui_server)
    await page.goto(ui_server.url + "/arena/side-by-side")
    await page.wait_for_selector("body[data-ready='1']")
    await page.select_option("#model-a", "gamma")
    await page.select_option("#model-b", "alpha")
    await page.fill("#prompt", "Compare yourselves.")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await expect(page.locator("#name-a")).to_have_text("gamma")
    await expect(page.locator("#name-b")).to_have_text("alpha")
    assert await _answers(page, "a") == ["Third answer to: Compare yourselves."]
    assert await _answers(page, "b") == ["First answer to: Compare yourselves."]
    await page.click("button.vote[data-vote='rightvote']")
    await expect(page.locator("#vote-status")).to_contain_text("Thanks for voting")
    await screenshot(page, "arena-side-by-side")
    # Named battles never reach the leaderboard (only anonymous votes count).
    assert _votes(ui_server) == votes_before


async def test_a_stopped_battle_must_be_regenerated_before_the_vote(
    signed_in: Page, ui_server: UIServer, upstream: FakeModels
) -> None:
    page = signed_in
    await page.goto(ui_server.url + "/arena")
    await page.wait_for_selector("body[data-ready='1']")
    cancelled = upstream.cancelled
    await page.fill("#prompt", "please hold once")
    await page.click("#send")
    await expect(page.locator("#messages-a .msg.assistant.streaming")).to_contain_text("Thinking about")
    await expect(page.locator("#messages-b .msg.assistant.streaming")).to_contain_text("Thinking about")
    await page.click("#stop")
    await expect(page.locator(".msg.assistant .note")).to_have_text(["(stopped)", "(stopped)"])
    wait_for(lambda: upstream.cancelled >= cancelled + 2, "both upstream calls to be cancelled")
    await expect(page.locator("button.vote").first).to_be_disabled()
    csrf = await page.evaluate("document.body.dataset.csrf")
    early = await page.request.post(
        ui_server.url + "/api/anonymous/vote", data={"vote": "leftvote"}, headers={"x-csrf-token": csrf}
    )
    assert early.status == 409 and (await early.json())["error"]["code"] == "incomplete"

    await page.click("#regenerate")
    await page.wait_for_selector("body[data-busy='0']")
    answers = await _answers(page, "a") + await _answers(page, "b")
    assert len(answers) == 2 and all(a.endswith("answer to: please hold once") for a in answers)
    await expect(page.locator("#name-a")).to_have_text("hidden")
    await page.click("button.vote[data-vote='bothbad_vote']")
    await expect(page.locator("#vote-status")).to_contain_text("Thanks for voting")
    await expect(page.locator("#name-a")).not_to_have_text("hidden")


async def test_a_battle_whose_answer_names_its_model_does_not_count(
    signed_in: Page, ui_server: UIServer
) -> None:
    page = signed_in
    votes_before = _votes(ui_server)
    await page.goto(ui_server.url + "/arena")
    await page.wait_for_selector("body[data-ready='1']")
    await page.fill("#prompt", "Who are you?")
    await page.click("#send")
    await page.wait_for_selector("body[data-busy='0']")
    await page.click("button.vote[data-vote='leftvote']")
    await expect(page.locator("#vote-status")).to_contain_text(
        "An answer named a model, so this battle does not count on the leaderboard."
    )
    assert _votes(ui_server) == votes_before

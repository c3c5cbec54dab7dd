"""The leaderboard as data: JSON (`GET /leaderboard`), CSV and SVG plots, computed by
polyroute.arena from the stored anonymous votes. Public, like FastChat's leaderboard: reading
it needs no sign-in (voting does).

Query: `view` = bt (Bradley-Terry, default) or style (style control); `category` = all
(default), multi_turn, long_query or language:<Name> (the JSON lists those that have battles).
Plots: /leaderboard/plot/{ratings|winfraction}.{svg|png}.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from polyroute.ui.web import UIError

PLOTS = {"ratings": "ratings", "winfraction": "win_fraction"}
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def _arena(request: Request) -> Any:
    arena = request.app.state.ui.arena
    if arena is None:
        raise UIError(503, "The arena store is not configured.", "arena_unavailable")
    return arena


async def _board(request: Request) -> Any:
    """The table for the query's view and category; the arena package refuses (400, naming the
    parameter) an unknown view or category."""
    view = request.query_params.get("view", "bt")
    category = request.query_params.get("category", "all")
    if len(view) > 16 or len(category) > 80:
        raise UIError(400, "view or category is too long.", "invalid_query")
    return await _arena(request).leaderboard(view, category)


async def leaderboard_json(request: Request) -> JSONResponse:
    arena = _arena(request)
    board = await _board(request)
    payload = board.to_json()  # with the categories that have battles, for the page's picker
    payload["external"] = arena.external_snapshot()
    return JSONResponse(payload, headers={"cache-control": "no-store"})


async def leaderboard_csv(request: Request) -> Response:
    board = await _board(request)
    return Response(
        board.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": 'attachment; filename="leaderboard.csv"',
            "cache-control": "no-store",
        },
    )


async def leaderboard_plot(request: Request) -> Response:
    name, fmt = request.path_params["name"], request.path_params["fmt"]
    if name not in PLOTS or fmt not in FORMATS:
        raise UIError(404, "plots are ratings or winfraction, as .svg or .png.", "unknown_plot")
    board = await _board(request)
    image = await _arena(request).plot(board, PLOTS[name], fmt)
    # An SVG shown through <img> runs no script; the CSP forbids it besides.
    return Response(image, media_type=FORMATS[fmt], headers={"cache-control": "no-store"})

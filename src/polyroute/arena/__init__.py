"""The arena: battles, votes and the leaderboard, for the web UI (`polyroute ui`) to mount.

What the UI uses (each module's docstring has the details):

- `settings.ArenaSettings.from_env(os.environ)`: LOGDIR, COPILOT_ARENA_LEADERBOARD_URL, the daily
  vote cap, the turn limit, bootstrap rounds; read once at start-up.
- `store.ArenaStore(database, settings)`: start a battle or chat, add turns, record each answer the
  session received, regenerate, vote (the rules against ballot stuffing live here), read a battle;
  writes FastChat-compatible conversation logs (`conv_log`) as it goes.
- `leaderboard.LeaderboardCache(store, settings).get(view=, category=, extra_scores=)` -> `Leaderboard`
  with `.to_json()` and `.to_csv()`; `leaderboard.categories(outcomes)` for a picker.
- `plots.render_plot(board, "ratings"|"win_fraction", "svg"|"png")` -> bytes.
- `external.ExternalLeaderboard.from_settings(settings)`: the external leaderboard, refreshed in
  the background.

Tables: `models` (migration 0002_arena). Maths: `ratings` (Bradley-Terry, bootstrap, rank by upper
bound, online Elo, style control). Identity leaks, categories and style counts: `features`.
"""

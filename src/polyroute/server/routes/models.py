"""GET /v1/models and /v1/models/{id}."""

from __future__ import annotations

from polyroute.errors import ModelNotFoundError
from polyroute.server.http import Request
from polyroute.server.state import AppState

_CREATED = 1_700_000_000  # OpenAI's schema requires a timestamp; deployments have no real one


def _model_object(name: str, owner: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": owner}


async def list_models(request: Request, state: AppState) -> None:
    table = state.config.models  # registered workers' model names are in it while they live
    principal = request.principal
    data = [
        _model_object(name, group[0].provider)
        for name in table.public_names()
        if (principal is None or principal.allows_model(name)) and (group := table.resolve(name))
    ]
    await request.respond_json(200, {"object": "list", "data": data})


async def retrieve_model(request: Request, state: AppState, model_id: str) -> None:
    group = state.config.models.resolve(model_id)
    if request.principal is not None:
        request.principal.check_models({"model": model_id}, state.config.router.model_group_alias)
    if not group:
        raise ModelNotFoundError(
            f"The model '{model_id}' does not exist or is not served by this gateway", param="model"
        )
    await request.respond_json(200, _model_object(model_id, group[0].provider))

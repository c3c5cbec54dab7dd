"""fschat 0.2.36's web server (`python -m fastchat.serve.gradio_web_server --controller-url ...`)
fetches its model lists from the controller with its own `get_model_list`: POST
/refresh_all_workers, then /list_language_models or /list_multimodal_models, reading `models`.
That function, from the installed package, runs here against a real gateway.

gradio itself is not a project dependency (fschat's `webui` extra): the subprocess gives the
module a stand-in for the two gradio names it touches at import time (`gr.Button()`,
`gr.Request` in annotations), so everything that talks to the controller is fschat's own code."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.controller.support import MASTER, TOKEN_ALL, serving_config, with_token
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.gateway import GatewayServer

pytest.importorskip("fastchat")

# fschat replaces sys.stdout with a logger when imported: the answer goes to a file.
FETCH = """
import json, sys, types
gradio = types.ModuleType("gradio")
gradio.Button = lambda *args, **kwargs: None
gradio.Request = object
sys.modules["gradio"] = gradio
from fastchat.serve.gradio_web_server import get_model_list
url, out = sys.argv[1], sys.argv[2]
language = get_model_list(url, None, False)
multimodal = get_model_list(url, None, True)
open(out, "w").write(json.dumps({"language": language, "multimodal": multimodal}))
"""


@pytest.fixture
def gateway(tmp_path):
    with GatewayServer(serving_config(), tmp_path) as server:
        yield server


def fetch_model_lists(controller_url: str, tmp_path) -> dict:
    out = tmp_path / "models.json"
    done = subprocess.run(
        [sys.executable, "-c", FETCH, controller_url, str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


def test_fschat_web_server_lists_language_and_multimodal_models(gateway, tmp_path):
    with FakeFastChatWorker(["vicuna", "tiny-chat"]) as text_worker, FakeFastChatWorker(["llava"]) as vision:
        assert text_worker.register(with_token(gateway.url, TOKEN_ALL)).status_code == 200
        assert vision.register(with_token(gateway.url, TOKEN_ALL), multimodal=True).status_code == 200
        # FastChat's clients put the controller's credentials in its URL (HTTP Basic auth).
        lists = fetch_model_lists(with_token(gateway.url, MASTER), tmp_path)
    language, _ = lists["language"]
    multimodal, _ = lists["multimodal"]
    assert sorted(language) == ["tiny-chat", "vicuna"]
    assert multimodal == ["llava"]


def test_model_lists_have_fastchats_shape_and_need_the_controller_credentials(gateway):
    with FakeFastChatWorker(["vicuna"]) as worker:
        worker.register(with_token(gateway.url, TOKEN_ALL))
        for path, expected in (("/list_language_models", ["vicuna"]), ("/list_multimodal_models", [])):
            refused = httpx.post(gateway.url + path)
            assert refused.status_code == 401 and refused.json()["error"]["type"]
            answer = httpx.post(gateway.url + path, auth=("admin", MASTER))
            assert answer.status_code == 200 and answer.json() == {"models": expected}

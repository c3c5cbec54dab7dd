"""FastChat's CPU_ISA: a transformers model on the CPU loads in bfloat16 where the processor has
the instructions (flags injected, so the test does not depend on this machine's CPU), and one
log line says why not otherwise."""

from __future__ import annotations

import logging

import orjson
import pytest

from polyroute.worker.engines.cpu_isa import choose_cpu_dtype, read_cpu_flags
from tests.worker.tiny_model import build_tiny_model

MESSAGES = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.mark.parametrize(
    ("cpu_isa", "device", "flags", "onednn", "bf16", "why"),
    [
        ("avx512_bf16", "cpu", {"avx512f", "avx512_bf16"}, True, True, "runs in bfloat16"),
        ("amx", "cpu", {"amx_tile", "amx_bf16"}, True, True, "runs in bfloat16"),
        ("amx", "cpu", {"avx512_bf16"}, True, False, "this processor lacks amx_bf16"),
        ("avx512_bf16", "cpu", {"avx2"}, True, False, "this processor lacks avx512_bf16"),
        ("avx512_bf16", "cpu", {"avx512_bf16"}, False, False, "no oneDNN"),
        ("avx512_bf16", "cuda", {"avx512_bf16"}, True, False, "applies to CPU models; this one runs on cuda"),
        ("sse2", "cpu", {"sse2"}, True, False, "is not one of avx512_bf16, amx"),
    ],
)
def test_choice_and_the_reason_given(cpu_isa, device, flags, onednn, bf16, why):
    choice = choose_cpu_dtype(cpu_isa, device, frozenset(flags), onednn)
    assert choice is not None and choice.bfloat16 is bf16
    assert why in choice.notice and "\n" not in choice.notice


def test_unset_cpu_isa_changes_nothing():
    assert choose_cpu_dtype(None, "cpu", frozenset({"amx_bf16"}), True) is None
    assert choose_cpu_dtype("", "cpu", frozenset({"amx_bf16"}), True) is None


def test_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16 amx_tile\n\nprocessor\t: 1\nflags\t: fpu\n"
    )
    assert read_cpu_flags(cpuinfo) == {"fpu", "sse2", "avx512_bf16", "amx_tile"}
    assert read_cpu_flags(tmp_path / "missing") == frozenset()


async def _load(tiny_model, cpu_isa, flags):
    from polyroute.cli.worker import _engine
    from polyroute.controller.settings import fastchat_timings

    engine = _engine(
        "transformers", "tiny", None, None, None, str(tiny_model), "cpu", fastchat_timings({}), None, cpu_isa
    )
    engine.cpu_flags = frozenset(flags)
    await engine.start()
    return engine


async def test_cpu_isa_loads_the_model_in_bfloat16_and_it_answers(tiny_model, caplog):
    import torch

    caplog.set_level(logging.INFO, "polyroute.worker")
    engine = await _load(tiny_model, "amx", {"amx_bf16", "amx_tile"})
    try:
        assert engine.model.dtype == torch.bfloat16
        reply = orjson.loads(
            (await engine.chat({"messages": MESSAGES, "max_tokens": 3, "temperature": 0})).body
        )
        assert reply["usage"]["completion_tokens"] >= 1
        embedded = orjson.loads((await engine.embeddings({"input": ["a b"]})).body)
        assert len(embedded["data"][0]["embedding"]) > 0
    finally:
        await engine.close()
    assert "CPU_ISA=amx: the model runs in bfloat16 on the CPU" in caplog.messages


async def test_without_the_instructions_the_model_stays_float32_with_one_notice(tiny_model, caplog):
    import torch

    caplog.set_level(logging.INFO, "polyroute.worker")
    engine = await _load(tiny_model, "avx512_bf16", {"avx2"})
    try:
        assert engine.model.dtype == torch.float32
    finally:
        await engine.close()
    notices = [m for m in caplog.messages if "CPU_ISA" in m]
    assert notices == ["CPU_ISA=avx512_bf16 but this processor lacks avx512_bf16; the model runs in float32"]

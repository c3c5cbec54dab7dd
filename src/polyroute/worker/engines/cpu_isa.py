"""FastChat's CPU_ISA setting: run a transformers model in bfloat16 on the CPU.

FastChat's workers read `CPU_ISA` (`avx512_bf16` or `amx`) and load a CPU model in bfloat16 when
it is set, since those instruction sets do bfloat16 arithmetic natively (about half the memory of
float32, and faster matrix products). polyroute does the same, but checks first that the processor
has the instructions (the `avx512_bf16` or `amx_bf16` flag Linux lists in /proc/cpuinfo) and
that torch's CPU backend (oneDNN) is there: without them bfloat16 is emulated, slower than
float32. Whenever the setting is not followed, one line says why. Intel's extension for PyTorch
(`ipex.optimize`), which FastChat also applies, is not used: torch's own oneDNN kernels use the
same instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: CPU_ISA value -> the /proc/cpuinfo flag that says the processor does bfloat16 natively
ISA_FLAGS = {"avx512_bf16": "avx512_bf16", "amx": "amx_bf16"}


@dataclass(frozen=True, slots=True)
class CpuDtype:
    bfloat16: bool
    notice: str  # one line for the log: what was chosen, and why


def read_cpu_flags(path: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The processor's feature flags (Linux); empty where the file is missing (other systems)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def choose_cpu_dtype(
    cpu_isa: str | None, device: str, cpu_flags: frozenset[str], onednn: bool
) -> CpuDtype | None:
    """Whether a model on `device` runs in bfloat16 for `cpu_isa`; None when CPU_ISA is unset."""
    if not cpu_isa:
        return None
    if cpu_isa not in ISA_FLAGS:
        return CpuDtype(
            False, f"CPU_ISA={cpu_isa} is not one of {', '.join(ISA_FLAGS)}; the model runs in float32"
        )
    if device != "cpu":
        return CpuDtype(False, f"CPU_ISA={cpu_isa} applies to CPU models; this one runs on {device}")
    flag = ISA_FLAGS[cpu_isa]
    if flag not in cpu_flags:
        return CpuDtype(
            False, f"CPU_ISA={cpu_isa} but this processor lacks {flag}; the model runs in float32"
        )
    if not onednn:
        return CpuDtype(
            False, f"CPU_ISA={cpu_isa} but this torch build has no oneDNN; the model runs in float32"
        )
    return CpuDtype(True, f"CPU_ISA={cpu_isa}: the model runs in bfloat16 on the CPU")

"""The CPU's instruction set, as int8 kernels see it: which quantisation fits this machine, and may a variant run.

ONNX Runtime's dynamic int8 comes in four flavours (optimum's ``AutoQuantizationConfig``): ``avx512_vnni``,
``avx512``, ``avx2`` and ``arm64``. They differ in more than speed: the x86 flavours without VNNI quantise
weights to a reduced range (7 bits) because their u8 x s8 multiply-add saturates 16-bit sums; a model
quantised for VNNI (full range) and run on a CPU without it can give wrong vectors. So a variant records
the instruction set it was quantised for, and :func:`check_isa` refuses it on a CPU that lacks it.

Example:
    >>> cpu_isa() in ("avx512_vnni", "avx512", "avx2", "arm64", None)
    True
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

from embedlab.errors import VariantError

#: Instruction sets from most to least capable, with the CPU flags each needs (Linux ``/proc/cpuinfo`` names).
ISA_FLAGS: dict[str, frozenset[str]] = {
    "avx512_vnni": frozenset({"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}),
    "avx512": frozenset({"avx512f", "avx512bw", "avx512vl"}),
    "avx2": frozenset({"avx2", "fma"}),
    "arm64": frozenset({"asimd"}),
}

#: x86 int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI): without them int8 kernels gain little over fp32.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (empty when they cannot be read)."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return frozenset({"asimd"})  # every 64-bit Arm CPU has NEON
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_isa(flags: frozenset[str] | None = None) -> str | None:
    """The most capable instruction set of :data:`ISA_FLAGS` these flags (default: this CPU's) support."""
    flags = cpu_flags() if flags is None else flags
    return next((isa for isa, needed in ISA_FLAGS.items() if needed <= flags), None)


def has_vnni(flags: frozenset[str] | None = None) -> bool:
    """Whether these flags (default: this CPU's) include VNNI, the int8 multiply-add that makes int8 models fast."""
    return bool(VNNI_FLAGS & (cpu_flags() if flags is None else flags))


def check_isa(isa: str, *, what: str, strict: bool, flags: frozenset[str] | None = None) -> str | None:
    """Can a model quantised for ``isa`` run here? ``None`` if so, else the reason.

    With ``strict`` (int8 kernels whose results depend on the instruction set) a missing instruction set
    raises :class:`VariantError`; otherwise the reason is returned for the caller to warn with.
    """
    flags = cpu_flags() if flags is None else flags
    needed = ISA_FLAGS.get(isa)
    if needed is None:
        raise VariantError(f"{what} was quantised for an unknown instruction set {isa!r}.")
    lacking = sorted(needed - flags)
    if not lacking:
        return None
    reason = f"{what} was quantised for {isa}, but this CPU ({cpu_isa(flags) or 'unknown'}) lacks {', '.join(lacking)}"
    if strict:
        raise VariantError(
            f"{reason}: its int8 kernels would give wrong vectors here. Build the variant on this machine "
            "(`embedlab optimize MODEL --benchmark DIR`) or use the source model."
        )
    return f"{reason}: it runs, but slower than measured when it was built."

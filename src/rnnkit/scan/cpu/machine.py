"""The CPU this process runs on, as the benchmarks and ``rnnkit info`` report it: the model name, the
microarchitecture family (what decides which GEMM is fastest: the same code runs at different speeds
on AMD Zen and on Intel Xeon), and the SIMD features the kernels can use.

Virtual machines often hide the marketing name ("AMD EPYC"), so the family comes from the vendor, CPU
family and model numbers of ``/proc/cpuinfo``.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

#: SIMD features that matter to the kernels (and to the vendor library's choice of code path)
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_bf16", "asimd", "sve",
)  # fmt: skip


def _amd(family: int, model: int) -> str | None:
    if family == 23:
        return "Zen 2" if model >= 0x30 else "Zen / Zen+"
    if family == 25:
        return "Zen 4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0xAF else "Zen 3"
    if family == 26:
        return "Zen 5"
    return None


_INTEL = {
    85: "Skylake-SP / Cascade Lake",
    106: "Ice Lake-SP",
    143: "Sapphire Rapids",
    207: "Emerald Rapids",
    173: "Granite Rapids",
    175: "Sierra Forest",
}


@dataclass(frozen=True)
class CpuInfo:
    model: str  # the model name as the OS reports it
    vendor: str  # AMD, Intel or what the OS says
    family: int | None
    model_number: int | None
    microarchitecture: str | None  # e.g. "Zen 4", "Emerald Rapids"; None when not known
    simd: tuple[str, ...]  # the SIMD_FLAGS this CPU has

    @property
    def family_name(self) -> str:
        """``AMD Zen 4``, ``Intel Emerald Rapids`` or ``AMD family 25 model 17`` when not known."""
        if self.microarchitecture:
            return f"{self.vendor} {self.microarchitecture}"
        if self.family is not None:
            return f"{self.vendor} family {self.family} model {self.model_number}"
        return self.model

    @property
    def slug(self) -> str:
        """The family as a file-name part: ``amd-zen4``, ``intel-emerald-rapids``."""
        text = self.family_name.lower().replace(" / ", "-").replace(" ", "-").replace("+", "plus")
        return "".join(c for c in text if c.isalnum() or c == "-").replace("zen-", "zen")

    def describe(self) -> str:
        """One line: model, family numbers, vector width and the SIMD features."""
        nums = f"family {self.family} model {self.model_number}, " if self.family is not None else ""
        return f"{self.model} ({self.family_name}; {nums}{' '.join(self.simd) or 'no SIMD flags read'})"


def cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """Read ``/proc/cpuinfo`` (or the given text) for the first processor."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor only
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    vendor_id = fields.get("vendor_id", "")
    vendor = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(vendor_id, vendor_id or platform.machine())
    family = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None
    number = int(fields["model"]) if fields.get("model", "").isdigit() else None
    arch = None
    if family is not None and number is not None:
        if vendor == "AMD":
            arch = _amd(family, number)
        elif vendor == "Intel" and family == 6:
            arch = _INTEL.get(number)
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    return CpuInfo(model, vendor, family, number, arch, tuple(f for f in SIMD_FLAGS if f in flags))

"""The CPU a stage computes on: the cores it may use, and its kernels, pinned so that the committed results are
what any x86-64 CPU with AVX2 computes (docs/development.md, "Same bits on another CPU").

PyTorch, oneDNN and MKL otherwise choose kernels by the CPU they find (AVX-512 on one machine, AVX2 on another),
and kernels of different widths sum in different orders: the default study's dual-stream models, trained on two
2-core machines, came out up to 0.050 AUC apart. The libraries read these settings when torch loads, so the
stages pin them first thing (stages/__init__.py), and the Ray workers get them too (flup/executor.py). They are
forced, not defaulted: no environment changes the bits. ``FLUP_NATIVE_KERNELS=1`` leaves the choice to the
libraries (faster on AVX-512, other bits). The number of threads that train is the other half:
``train.cpu_threads`` (flup.training.loop.pin_cpu_threads).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
OPT_OUT = "FLUP_NATIVE_KERNELS"


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pinned_environment(environ: Mapping[str, str] = os.environ, machine: str | None = None) -> dict[str, str]:
    """The variables to set: :data:`PINNED` on x86-64 unless ``FLUP_NATIVE_KERNELS`` is set, else none."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64") or environ.get(OPT_OUT, "") not in ("", "0"):
        return {}
    return dict(PINNED)


def pin_cpu_kernels() -> None:
    """Pin this process's (and its children's) kernels; call it before torch is imported."""
    os.environ.update(pinned_environment())

"""Same bits on another CPU: a training step under two CPU kernel settings (stages/__init__.py pins them).

Each step runs in a fresh process, as a stage does, because the libraries read their kernel settings when torch
loads. The other setting stands for another CPU: scalar ATen kernels, SSE4.1 oneDNN convolutions and MKL's
most compatible path are what an older or different CPU would get; AVX-512 is what a newer one would.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ANOTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}

# Two optimizer steps of one MobileNetV2 stream (random init, 32 px), then the sha256 of every weight.
STEP = textwrap.dedent("""
    import hashlib
    import stages  # what `python -m stages.<name>` runs first: it pins the kernels before torch loads
    import torch
    from flup.models.model import build_dual_stream
    from flup.training.loop import pin_cpu_threads

    pin_cpu_threads(torch.device("cpu"), 2)
    model = build_dual_stream("gap", 32, "none", dim=16, seed=0).blur_net
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for x in inputs:
        optimizer.zero_grad()
        model(x).pow(3).sum().backward()
        optimizer.step()
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(value.detach().contiguous().numpy().tobytes())
    print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), digest.hexdigest())
""")


def training_step(**env: str) -> tuple[str, int, str]:
    clean = {k: v for k, v in os.environ.items() if k not in (*ANOTHER_CPU, "FLUP_NATIVE_KERNELS", "OMP_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", STEP], cwd=REPO, env={**clean, **env}, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    capability, threads, digest = result.stdout.split()
    return capability, int(threads), digest


needs_avx2 = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in Path("/proc/cpuinfo").read_text(),
    reason="the pin is to AVX2: needs an x86-64 CPU with AVX2")


@needs_avx2
def test_a_training_step_gives_the_same_bits_under_another_cpus_kernel_settings():
    here = training_step()
    elsewhere = training_step(**ANOTHER_CPU)
    assert here[0] == elsewhere[0] == "AVX2"
    assert here == elsewhere


@needs_avx2
def test_without_the_pin_the_kernel_settings_change_the_bits():
    # What makes the test above able to fail: the same step, the libraries left to choose, differs.
    native = training_step(FLUP_NATIVE_KERNELS="1")
    elsewhere = training_step(FLUP_NATIVE_KERNELS="1", **ANOTHER_CPU)
    assert elsewhere[0] == "DEFAULT"
    assert native[2] != elsewhere[2]


@needs_avx2
def test_the_training_threads_do_not_follow_the_machine():
    # One thread per core would sum the weight gradients in another order on a machine with other cores.
    assert training_step(OMP_NUM_THREADS="1") == training_step(OMP_NUM_THREADS="2")

"""The pipeline's stages: ``python -m stages.<name>``, run by dvc.yaml.

Two process settings, made before any stage imports torch; neither changes a number
(benchmarks/render_score.md, "Torch scorers"):

- OpenMP worker threads sleep while they wait instead of spinning (``OMP_WAIT_POLICY=PASSIVE``,
  unless already set). On a 2-core machine shared with other work a spinning thread holds a core
  the other thread needs: a torch forward ran 4-5x slower in wall time with the default policy.
- glibc keeps large blocks on the heap and freed memory in the process (``mallopt``: no mmap,
  trim above 256 MiB). Otherwise every large tensor is a fresh mmap whose pages the kernel zero-fills
  on first touch and unmaps on free: 5 of the 12 ms of CPU a fine-tuned ArcFace spent per face crop
  were that system time.

And one that does change numbers: the CPU kernels are pinned to AVX2 (flup/cpu.py), so that the committed
results are what any x86-64 CPU with AVX2 computes.
"""

import ctypes
import os

from flup.cpu import pin_cpu_kernels

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

pin_cpu_kernels()


def _keep_freed_memory() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc only; elsewhere nothing to do
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_max = -1, -4
    mallopt(m_mmap_max, 0)
    mallopt(m_trim_threshold, 256 << 20)


_keep_freed_memory()

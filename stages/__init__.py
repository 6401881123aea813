"""The pipeline's stages: ``python -m stages.<name>``, run by dvc.yaml.

Before any stage imports torch: OpenMP worker threads sleep while they wait instead of spinning
(``OMP_WAIT_POLICY=PASSIVE``, unless already set). On a 2-core machine shared with other work a
spinning thread holds a core the other thread needs; a torch forward pass ran 4-5x slower in wall
time with the default policy there (benchmarks/render_score.md). The policy changes no number.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""The names and bounds every lockstep module shares (no imports: a leaf)."""

from __future__ import annotations

#: Name of the numpy reference among the runs.
REFERENCE = "numpy"
#: What lockstep runs must satisfy: the largest difference between two backends of
#: the per-epoch training loss, and of the final test accuracy. Float64 runs of the
#: chapter meet them by ten orders of magnitude; float32 runs cannot: the run
#: amplifies one float32 rounding until the runs part (docs/results/lockstep.md).
LOSS_BOUND = 1e-3
TEST_ACC_BOUND = 0.003

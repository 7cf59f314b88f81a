"""pytest configuration: gcnn.torch's modules hold doctests, collected only where torch is.

gcnn runs without PyTorch (docs/design.md, §10 PyTorch), so the test suite must too: without
it, the modules that import torch are not collected, and the tests about them skip themselves
with ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob += ["gcnn/torch/*.py", "gcnn/cli/train_torch.py"]

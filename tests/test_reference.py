"""Can gcnn.reference, the slow reference everything is compared against, be trusted and used?

It must derive the group law from geometry alone (an image without symmetry identifies each
composite map uniquely), and it must import without SciPy, the functions that need SciPy saying
so when called.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gcnn import reference

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_probe_image_tells_the_eight_elements_apart():
    # compose() identifies T_a o T_b by what it does to this image: it must be unique.
    probe = np.arange(9).reshape(3, 3)
    transforms = [reference.transform_image(probe, g).tobytes() for g in range(8)]
    assert len(set(transforms)) == 8
    for a, b in itertools.product(range(8), repeat=2):
        composite = reference.transform_image(reference.transform_image(probe, b), a)
        matches = [
            c for c in range(8) if np.array_equal(reference.transform_image(probe, c), composite)
        ]
        assert matches == [reference.compose(a, b)]


def test_inverse_undoes_every_element():
    image = np.random.default_rng(0).standard_normal((3, 5))
    for g in range(8):
        undone = reference.transform_image(
            reference.transform_image(image, g), reference.inverse(g)
        )
        np.testing.assert_array_equal(undone, image)


def test_imports_without_scipy_and_says_what_needs_it(tmp_path):
    # A package named scipy that fails to import stands in for a missing one.
    blocker = tmp_path / "block"
    (blocker / "scipy").mkdir(parents=True)
    (blocker / "scipy" / "__init__.py").write_text("raise ImportError('blocked')\n")
    code = (
        "import numpy as np\n"
        "from gcnn import reference\n"
        "x = np.arange(32.0).reshape(1, 2, 4, 4)\n"
        "print(reference.conv2d(x, np.ones((1, 2, 3, 3))).shape)\n"
        "print(reference.group_pool(x, 'max').shape)\n"
        "try:\n"
        "    reference.lift_correlation(x[0, 0], np.ones((3, 3)))\n"
        "except ImportError as error:\n"
        "    print('ImportError:', error)\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO_ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["(1, 1, 2, 2)", "(1, 4, 4)"]
    assert "needs SciPy" in lines[2] and "python -m pip install scipy" in lines[2]

"""`models` is the shared core: it imports neither `api` nor `worker`, nor TensorFlow."""

import subprocess
import sys

from devtools.processes import ROOT


def test_importing_every_models_module_imports_no_api_worker_or_tensorflow() -> None:
    code = (
        "import importlib, pkgutil, sys, models\n"
        "for m in pkgutil.walk_packages(models.__path__, 'models.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules\n"
        "       if m.split('.')[0] in ('api', 'worker', 'tensorflow', 'keras')]\n"
        "assert not bad, bad\n"
        "print(len([m for m in sys.modules if m.startswith('models.')]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 15  # every module was imported, not an empty walk

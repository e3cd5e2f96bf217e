"""Install the project's dependencies, and those of the extras named, from pyproject.toml.

The image's dependency layer runs this before any source is copied, so it changes only when
pyproject.toml does: `python docker/install-deps.py worker`.
"""

import subprocess
import sys
import tomllib

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
wanted = list(project["dependencies"])
for extra in sys.argv[1:]:
    wanted += project["optional-dependencies"][extra]
subprocess.run([sys.executable, "-m", "pip", "install", *wanted], check=True)

"""`python -m models.storage`: create a missing database where allowed, then migrate to head.

A package's `__main__` rather than `python -m models.storage.migrate`: the package imports
that module, and running an imported module as `__main__` makes runpy warn.
"""

from models.storage.migrate import main

main()

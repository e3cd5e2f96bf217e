"""`python -m models.identity`: the first start (operator token, `default` project, its key).

A package's `__main__` for the reason given in `models/storage/__main__.py`.
"""

from models.identity.bootstrap import main

main()

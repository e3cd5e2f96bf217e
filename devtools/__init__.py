"""Development helpers shared by the tests and the benchmark (not shipped in the wheel).

`processes` starts real lrlab processes (the API under uvicorn, a Celery worker). Tests and
`bench/` may import this package; it imports nothing of theirs, nor the server's packages.
"""

"""``python -m bench``: the whole run (see bench/run.py)."""
from bench.run import main

main()

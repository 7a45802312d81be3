"""python -m experiments.launch SCRIPT ARGS... (experiments/launch/cli.py),
run by the scripts of scripts/adu/.
It imports only the plain modules of trainers/ and datasets/ (the config
keys, the command line's resolution, the fingerprint, the domain lists),
never a trainer or dataset class, so deciding what to run needs no torch.
"""
import os
import sys

from experiments.launch.interpreter import refuse_unready

refuse_unready(sys.argv[1:], os.environ)  # before the launcher's imports, which need PyYAML
from experiments.launch import cli  # noqa: E402

sys.exit(cli.main(sys.argv[1:]))

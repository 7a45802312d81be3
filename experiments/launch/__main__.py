"""python -m experiments.launch SCRIPT ARGS... (experiments/launch/cli.py),
run by the scripts of scripts/adu/.

The packages trainers/ and datasets/ are entered bare first
(experiments/launch/bare_packages.py): the launcher needs their plain
modules only, never the Dassl classes whose registration imports torch.
"""
import sys

from experiments.launch.bare_packages import enter_bare

enter_bare()

from experiments.launch import cli  # noqa: E402

sys.exit(cli.main(sys.argv[1:]))

"""The main() of tools/analyze.py and tools/robustness.py: parse, time the
work, and a user error (a wrong folder, a bad option) as one line and
exit status 2 instead of a traceback."""
import sys
import time

from user_errors import UserError


def run_command(program: str, parse_args, work, finish, argv=None):
    """finish(args, work(args), seconds the work took) for args = parse_args(argv);
    a UserError from parsing or working: "PROGRAM: error: ..." and exit 2."""
    try:
        args = parse_args(argv)
        start = time.time()
        result = work(args)
    except UserError as err:
        print(f"{program}: error: {err}", file=sys.stderr)
        sys.exit(2)
    return finish(args, result, time.time() - start)

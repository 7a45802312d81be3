"""How far a reader walks to follow one training step.

    python tools/step_trace.py [--root data] [--trainer ADU] [--config-file ...]
        [--list] [--json] [KEY VALUE ...]

Builds a trainer the way train.py does (toy benchmark, made under --root on
first use; the shipped tiny CLIP; CPU), takes one training step untraced,
then traces the second: the Python functions of the repository it calls
(tests/ excluded), the files they are in and the deepest nesting of project
frames. `--list` names every function. The logic lives in
experiments/bench/step_trace.py; docs/LAYOUT.md gives the figures.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="data", help="dataset root (the toy is made there)")
    p.add_argument("--trainer", default="ADU")
    p.add_argument("--config-file", default="",
                   help="default: configs/trainers/TRAINER/toy_tiny.yaml")
    p.add_argument("--list", action="store_true", help="print every function")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config options")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from experiments.bench.step_trace import step_trace  # torch: after --help
    result = step_trace(args.root, args.trainer, args.config_file, args.opts)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.trainer} step: {result['functions']} project functions in "
          f"{result['files']} files, {result['depth']} project frames deep")
    if args.list:
        print("\n".join(f"  {c}" for c in result["calls"]))


if __name__ == "__main__":
    main()

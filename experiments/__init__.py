"""The experiments around the method: launching runs, reading their results,
studying and benchmarking them. Library code for `tools/` and `scripts/adu/`;
it never edits sys.path and never imports a tool.

Subpackages (each says what it holds):
    launch    the runs a script call plans, the skip test, the local GPU queue
              and SLURM submission, run folder names
    results   results.json read and checked, the paper's tables, the coverage,
              the sweep table, the figures (tools/parse_results.py)
    analysis  a finished run rebuilt, its analyses, recovery by probing and
              relearning, each ADU term's gradient (tools/analyze.py,
              robustness.py, gradient_probe.py)
    bench     the training-step benchmark and the GPU check
              (tools/benchmark.py, gpu_check.py)
    toy       the toy benchmark's tiny CLIP: pretraining, its zero-shot table,
              the CLIP-regime check (tools/pretrain_tiny_clip.py, toy_regime.py)
    export    a finished run as one torch.export / ONNX file with its json,
              and classifying images with it (tools/export.py, predict.py)
Nothing here is imported by `trainers/` or `datasets/`: the method and the
data know nothing of the experiments built on them. The development
machinery (fault injection, mutation testing) is in tests/dev/, which
nothing here imports.
"""

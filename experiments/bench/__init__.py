"""Measuring what ADU costs: the training-step and evaluation benchmark of
tools/benchmark.py (`settings`, `models`, `steps`, `timing`, `memory`,
`mmd`, `table`, `benchmark`) and the one-call GPU check of tools/gpu_check.py
built on it (`device`, `loader_speed`, `toy_run`, `gpu_report`,
`gpu_check`). The benchmark imports no Dassl (it uses Dassl's MMD op when
installed); used by tools/ and the tests."""

"""Studying finished runs and the method's losses: a run rebuilt from its
folder (`finished_run`), the analyses of tools/analyze.py (`domains`,
`attention`, `figures`, `analyze`), recovery by probing and relearning
(`relearning`, `robustness`), each ADU term's gradient at initialisation
(`gradient_probe`), and the shared command shape of these tools
(`command`). Imports trainers/, datasets/ and train.py; used by tools/ and
the tests, never by trainers/ or datasets/."""

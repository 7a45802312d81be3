"""The training logic the registered trainers share, on Dassl's TrainerX.

`base.py` (the trainers' base: data checks, `forward_backward`, evaluation
and checkpoints wired into Dassl), `memorize_forget.py` (the comparison
trainers' base), `training_step.py` (a `Batch`, PREC's autocast and one
optimisation step on it), `loss_log.py` (the training log, kept on the
device between prints), `progress.py` (the progress lines the scripts pass
on to the terminal), `precision.py` (PREC), `lr_scheduler.py`,
`evaluation.py` (per-domain test, results.json), `domain_labels.py` (pseudo
domain labels) and `shot_features.py` (shot sets encoded once).
`training_step.py`, `loss_log.py`, `progress.py`, `precision.py` and
`lr_scheduler.py` need no Dassl, so that the tools take the trainers' step
without it. The trainers, the tools and experiments/ may import it;
trainers/modules and trainers/run never do. Importing this package imports
none of them.
"""

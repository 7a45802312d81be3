"""The run machinery shared by the registered trainers, on Dassl's TrainerX.

`base.py`, `memorize_forget.py` and `evaluation.py` use Dassl;
`checkpoint.py`, `fault.py`, `files.py`, `fingerprint.py`, `lr_scheduler.py`,
`precision.py` and `run_info.py` do not, so tools can use them without it. Importing this
package imports none of them.
"""

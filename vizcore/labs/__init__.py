"""Labs: plans, verdicts and the words they print for Compare, Batch size and Covariate shift.

No threads: those live in workers.
"""

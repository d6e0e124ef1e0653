"""Traffic control: the guarded split editor, its review, send and verification, the conflict
dialog and one-click rollback (see flows.py for how they fit together)."""

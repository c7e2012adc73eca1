"""Digestions: records selected into parts, the parts' blobs and an export (DigestionStateMachine)."""

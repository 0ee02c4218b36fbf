"""Trainer entry points and experiment configs. Imports seqpose_core, never the reverse."""

"""NOCS category-level pose evaluation: IoU, errors, matching, AP, reports.

Two 3D IoU modes: ``legacy`` reproduces the reference code of the NOCS protocol (its
min/max over the wrong axis included) so tables compare with published ones, and
``exact`` computes the true IoU of the oriented boxes. Everything else (matching,
thresholds, AP) is the same in both modes.
"""

"""From per-frame estimates to one box and one stable id per object: duplicate suppression,
track association, camera-motion compensation."""

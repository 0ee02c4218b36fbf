"""Bags and replay: ``bag`` (NOCS layout -> bag, bag readers), ``player``, ``recorder``,
``live`` (a bag through a running node), ``replay`` (``seqpose-replay``), ``report``, ``demo``."""

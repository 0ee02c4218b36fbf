"""``python -m seqpose_ros.node``: the same as the ``seqpose_node`` console script."""

import sys

from seqpose_ros.node.node import main

sys.exit(main())

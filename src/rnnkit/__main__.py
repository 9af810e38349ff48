"""``python -m rnnkit …``: the ``rnnkit`` command (what ``torchrun -m rnnkit train …`` starts)."""

import sys

from .cli import main

sys.exit(main())

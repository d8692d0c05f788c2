"""``python -m ufm.cli`` is the same as the ``ufm`` command."""

import sys

from ufm.cli import main

sys.exit(main())

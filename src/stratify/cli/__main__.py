"""``python -m stratify.cli``: the same as the ``stratify`` command."""

import sys

from stratify.cli import main

sys.exit(main())

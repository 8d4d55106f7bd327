"""``python -m avatarwire.cli``: the same as the ``avatarwire`` command."""

import sys

from .main import main

sys.exit(main())

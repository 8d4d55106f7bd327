"""``python -m avatarwire``: the ``avatarwire`` command."""

import sys

from avatarwire.cli.main import main

sys.exit(main())

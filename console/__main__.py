"""``python -m console``: the console's command line."""

import sys

from console.cli import main

sys.exit(main())

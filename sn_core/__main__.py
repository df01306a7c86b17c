"""``python -m sn_core``: see ``sn_core.cli``."""
import sys

from .cli import main

sys.exit(main())

"""``python -m sn_core``: see ``sn_core.cli.main``."""
import sys

from sn_core.cli.main import main

sys.exit(main())

import sys

from sn_core.demo.cli import main

sys.exit(main())

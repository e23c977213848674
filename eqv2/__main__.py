import sys

from eqv2.cli import main

sys.exit(main())

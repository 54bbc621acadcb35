import sys

from sncc.cli import main

sys.exit(main())

import sys

from tabular_mlops.stack.cli import main

sys.exit(main())

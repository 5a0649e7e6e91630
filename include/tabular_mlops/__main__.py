import sys

from tabular_mlops.cli import main

sys.exit(main())

import sys

from tabular_mlops.stack.stack_cli import main

sys.exit(main())

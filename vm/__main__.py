"""`python -m vm` is the `vm` command."""

import sys

from vm.cli import main

sys.exit(main())

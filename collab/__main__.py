"""`python -m collab`: the same as the `collab` command."""

import sys

try:
    from collab.cli import main
except KeyboardInterrupt:  # Ctrl-C before the command line is even read
    print("collab: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

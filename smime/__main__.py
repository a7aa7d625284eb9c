"""``python -m smime``: the same as the ``smime`` command."""

import sys

from smime.cli import main

if __name__ == "__main__":
    sys.exit(main())

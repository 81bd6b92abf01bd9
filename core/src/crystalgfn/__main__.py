import sys

from crystalgfn.cli import main

sys.exit(main())

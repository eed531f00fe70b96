import sys

from edgezoo.cli import main

sys.exit(main())

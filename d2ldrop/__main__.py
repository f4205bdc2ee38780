import sys

from d2ldrop.cli import main

sys.exit(main())

"""``python -m simgan`` (and ``torchrun ... -m simgan``): the same command line as the ``simgan`` script."""

import sys

from simgan.cli import main

sys.exit(main())

"""``python -m srgan.cli``: the ``srgan`` command."""

import sys

from srgan.cli.main import main

sys.exit(main())

"""``python -m rnn2spice``."""

import sys

from .cli import main

sys.exit(main())

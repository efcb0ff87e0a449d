"""``python -m rnn2spice``."""

import sys

from rnn2spice.cli.app import main

sys.exit(main())

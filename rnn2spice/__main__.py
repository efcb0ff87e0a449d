"""``python -m rnn2spice``: the console script's entry point (rnn2spice_launch.main), so that
an interrupt while the command line imports is one line here too (the package's own imports,
which come first, are guarded in ``rnn2spice/__init__.py``)."""

import sys

from rnn2spice_launch import main

sys.exit(main())

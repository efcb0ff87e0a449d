"""The ``rnn2spice`` console script's entry point, outside the package on purpose.

Importing anything inside ``rnn2spice`` first runs the package's ``__init__`` (numpy, scipy,
the whole API: seconds on a busy machine), and a Ctrl-C in that time ended in a 30-line
KeyboardInterrupt traceback.  Here the interrupt is caught around that import itself, before
any of it runs: one line and exit 130, as the command line says an interrupt once it runs
(rnn2spice.cli.common.interrupted).  SIGTERM keeps its default action until then (the
process ends, 143, nothing started yet to clean up).
"""

import sys


def main() -> int:
    try:
        from rnn2spice.cli.app import main as run
    except KeyboardInterrupt:
        try:
            sys.stderr.write("rnn2spice: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        return 130
    return run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

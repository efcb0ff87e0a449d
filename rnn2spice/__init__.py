"""rnn2spice: recurrent neural networks as analog circuits, checked by ngspice simulation."""

from rnn2spice._version import __version__

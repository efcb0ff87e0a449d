"""rnn2spice: recurrent neural networks as analog circuits, checked by ngspice simulation.

Pipeline: spec (:mod:`.spec`) -> circuit IR (:mod:`.compiler`, :mod:`.ir`) -> netlist text
(:mod:`.netlist`) -> ngspice (:mod:`.simulator`) -> exact reference (:mod:`.reference`) ->
comparison (:mod:`.compare`).  The mathematics is in THEORY.md.
"""

__version__ = "0.1.0"

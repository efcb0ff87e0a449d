"""The parts a real build is made of: op-amps you can buy, a transistor, a diode (THEORY.md 11).

Each op-amp is a small macro-model of our own (the writer's :meth:`~rnn2spice.circuit.writer.
NetlistWriter.opamp_macro`, a reduced Boyle-type model: bias currents at the inputs, a
slew-limited transconductance ``gm`` (the input offset inside its argument) into a
high-impedance node ``RG || CG``
(DC gain A0 = gm RG, unity-gain frequency gm / (2 pi CG) = GBW, slew rate Imax / CG), diode
clamps to ``swing_high`` / ``swing_low`` from each rail, a unity buffer with output resistance,
and the supply current between the rails).  Its numbers are the **typical** values of the
manufacturer's data sheet cited with each part (25 degC, +-15 V unless said otherwise), not
copied from any vendor model.  ``rnn2spice/circuit/models/rnn2spice.lib`` is the same library
as a file for other simulators (written by ``netlists/regenerate.py``; a test keeps it equal).

The transistor and the diode are the public SPICE model cards of the 2N3904 and 1N4148 that
circulate with the manufacturers' data (Fairchild/onsemi 2N3904, the PSpice evaluation
library's D1N4148); their parameters are listed here, written by the writer as ``.model``
cards.  Units: V/V, Hz, V/s, V, A, ohm, F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnn2spice.errors import UsageError

#: The op-amp choices of a build besides the library's parts.
ABSTRACT_OPAMPS = ("ideal", "single-pole")
#: Node order of every op-amp subcircuit of the library (and of a user's: checked).
PINS = ("inp", "inn", "vcc", "vee", "out")
#: Capacitance of the macro-model's gain node (F): only sets the scale of gm and Imax.
MACRO_CG = 1e-12


@dataclass(frozen=True)
class OpAmpPart:
    """An op-amp of the library: typical data-sheet values (``source`` cites the data sheet)."""

    name: str            # part number, also the subcircuit name
    gain: float          # DC open-loop gain A0 (V/V)
    gbw: float           # gain-bandwidth product (Hz)
    slew: float          # slew rate (V/s)
    swing_high: float    # output swing: how far below V+ the output can go (V)
    swing_low: float     # ... and how far above V- (V)
    offset: float        # input offset voltage, typical |Vos| (V)
    bias: float          # input bias current into each input (A; negative: out of the pins, PNP inputs)
    supply_current: float  # quiescent current per amplifier (A)
    rout: float          # open-loop output resistance (ohm)
    per_package: int     # amplifiers in the package ordered
    package_part: str    # the orderable part number of that package
    footprints: tuple[str, str]  # KiCad footprints: (through-hole, surface mount)
    source: str          # the data sheet and table the numbers come from

    @property
    def gm(self) -> float:
        """Input transconductance (S): unity-gain frequency gm / (2 pi CG) = GBW."""
        return 2.0 * math.pi * self.gbw * MACRO_CG

    @property
    def imax(self) -> float:
        """Largest current into the gain node (A): the slew rate Imax / CG."""
        return self.slew * MACRO_CG

    @property
    def rg(self) -> float:
        """Gain-node resistance (ohm): A0 = gm RG."""
        return self.gain / self.gm

    def swing(self, rails: tuple[float, float]) -> tuple[float, float]:
        """The lowest and highest output (V) on the supply ``rails`` (V-, V+)."""
        return rails[0] + self.swing_low, rails[1] - self.swing_high

    def citation(self) -> str:
        return (f"{self.name}: A0 {self.gain:.3g} V/V, GBW {self.gbw:.3g} Hz, SR {self.slew * 1e-6:.3g} V/us, swing "
                f"V+ - {self.swing_high:g} V / V- + {self.swing_low:g} V, Vos {self.offset:.3g} V, Ib {self.bias:.3g} A, "
                f"Iq {self.supply_current:.3g} A ({self.source})")


OPAMPS: dict[str, OpAmpPart] = {p.name: p for p in (
    OpAmpPart("TL072", gain=2e5, gbw=3e6, slew=13e6, swing_high=1.5, swing_low=1.5, offset=3e-3, bias=65e-12,
              supply_current=1.4e-3, rout=100.0, per_package=2, package_part="TL072",
              footprints=("Package_DIP:DIP-8_W7.62mm", "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm"),
              source="TI SLOS080 TL07xx data sheet, electrical characteristics TL07xC: A_VD 200 V/mV, "
                     "B1 3 MHz, SR 13 V/us, V_OM +-13.5 V at +-15 V R_L 10 kOhm, V_IO 3 mV, I_IB 65 pA, "
                     "I_CC 1.4 mA per amplifier"),
    OpAmpPart("LM358", gain=1e5, gbw=0.7e6, slew=0.3e6, swing_high=1.5, swing_low=0.005, offset=3e-3, bias=-20e-9,
              supply_current=0.35e-3, rout=50.0, per_package=2, package_part="LM358",
              footprints=("Package_DIP:DIP-8_W7.62mm", "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm"),
              source="TI SLOS068 LM358 data sheet: A_VD 100 V/mV, unity-gain bandwidth 0.7 MHz, SR 0.3 V/us, "
                     "V_OH V_CC - 1.5 V, V_OL 5 mV, V_IO 3 mV, I_IB -20 nA (PNP inputs), I_CC 0.7 mA for two "
                     "amplifiers"),
    OpAmpPart("OPA227", gain=1e8, gbw=8e6, slew=2.3e6, swing_high=1.0, swing_low=1.0, offset=5e-6, bias=2.5e-9,
              supply_current=3.7e-3, rout=40.0, per_package=2, package_part="OPA2227",
              footprints=("Package_DIP:DIP-8_W7.62mm", "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm"),
              source="TI SBOS110 OPAx227 data sheet: A_OL 160 dB, GBW 8 MHz, SR 2.3 V/us, output within 1 V "
                     "of each rail at R_L 10 kOhm, V_OS 5 uV, I_B 2.5 nA, I_Q 3.7 mA per amplifier; the dual "
                     "OPA2227 is ordered"),
)}


@dataclass(frozen=True)
class DeviceModel:
    """A ``.model`` card: name, SPICE type (``NPN``, ``D``), parameters (SI units)."""

    name: str
    kind: str
    params: tuple[tuple[str, float], ...]
    part: str
    footprints: tuple[str, str]
    source: str

    def param(self, key: str) -> float:
        return dict(self.params)[key]


#: The 2N3904 card that circulates with the Fairchild/onsemi data (Is, Bf, Vaf, capacitances...).
Q2N3904 = DeviceModel("q2n3904", "NPN", (
    ("IS", 6.734e-15), ("XTI", 3.0), ("EG", 1.11), ("VAF", 74.03), ("BF", 416.4), ("NE", 1.259),
    ("ISE", 6.734e-15), ("IKF", 66.78e-3), ("XTB", 1.5), ("BR", 0.7371), ("NC", 2.0), ("ISC", 0.0),
    ("IKR", 0.0), ("RC", 1.0), ("CJC", 3.638e-12), ("MJC", 0.3085), ("VJC", 0.75), ("FC", 0.5),
    ("CJE", 4.493e-12), ("MJE", 0.2593), ("VJE", 0.75), ("TR", 239.5e-9), ("TF", 301.2e-12),
    ("ITF", 0.4), ("VTF", 4.0), ("XTF", 2.0), ("RB", 10.0)),
    "2N3904", ("Package_TO_SOT_THT:TO-92_Inline", "Package_TO_SOT_SMD:SOT-23"),
    "2N3904 model card distributed with the Fairchild/onsemi 2N3904 data (public)")
#: The 1N4148 card of the PSpice evaluation library (D1N4148), public.
D1N4148 = DeviceModel("d1n4148", "D", (
    ("IS", 2.682e-9), ("N", 1.836), ("RS", 0.5664), ("IKF", 44.17e-3), ("XTI", 3.0), ("EG", 1.11),
    ("CJO", 4e-12), ("M", 0.3333), ("VJ", 0.5), ("FC", 0.5), ("ISR", 1.565e-9), ("NR", 2.0), ("BV", 100.0),
    ("IBV", 100e-6), ("TT", 11.54e-9)),
    "1N4148", ("Diode_THT:D_DO-35_SOD27_P7.62mm_Horizontal", "Diode_SMD:D_SOD-323"),
    "D1N4148 model card of the PSpice evaluation library (public)")
DEVICES = {d.name: d for d in (Q2N3904, D1N4148)}

#: KiCad footprints of the passive parts and the supply/reference connectors: (through-hole, 0805).
PASSIVE_FOOTPRINTS = {
    "resistor": ("Resistor_THT:R_Axial_DIN0207_L6.3mm_D2.5mm_P10.16mm_Horizontal", "Resistor_SMD:R_0805_2012Metric"),
    "capacitor": ("Capacitor_THT:C_Rect_L7.2mm_W2.5mm_P5.00mm_FKS2_FKP2_MKS2_MKP2",
                  "Capacitor_SMD:C_0805_2012Metric"),
    "supply": ("Connector_PinHeader_2.54mm:PinHeader_1x03_P2.54mm_Vertical",
               "Connector_PinHeader_2.54mm:PinHeader_1x03_P2.54mm_Vertical"),
    "reference": ("Connector_PinHeader_2.54mm:PinHeader_1x02_P2.54mm_Vertical",
                  "Connector_PinHeader_2.54mm:PinHeader_1x02_P2.54mm_Vertical"),
    "input": ("Connector_PinHeader_2.54mm:PinHeader_1x02_P2.54mm_Vertical",
              "Connector_PinHeader_2.54mm:PinHeader_1x02_P2.54mm_Vertical"),
}
FOOTPRINT_STYLES = ("tht", "0805")


def opamp_part(name: str) -> OpAmpPart:
    """The library's op-amp ``name`` (case-insensitive), or UsageError listing the choices."""
    for key, part in OPAMPS.items():
        if isinstance(name, str) and key.lower() == name.lower():
            return part
    raise UsageError(f"opamp must be one of {', '.join(ABSTRACT_OPAMPS + tuple(OPAMPS))} or FILE.lib:SUBCKT "
                     f"(got {name!r})")


def thermal_voltage(temp: float) -> float:
    """kT/q (V) at ``temp`` degC."""
    return 1.380649e-23 * (temp + 273.15) / 1.602176634e-19

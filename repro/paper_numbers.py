"""The paper's published numbers (Yu et al., Tables II-IV, Section E) and how pages print them.

Accuracies are fractions, events are per image. ``NETS_HERE`` are the networks trained and
measured here; ``CIFAR_NETS`` have no data set or GPU on these machines.
"""

from __future__ import annotations

__all__ = ["NETS_HERE", "CIFAR_NETS", "LOSSES", "M_VALUES", "NOT_MEASURED", "PAPER_T2",
           "PAPER_T3", "PAPER_T4", "PAPER_E", "TOPOLOGY", "pct", "num"]

NETS_HERE = ("net1", "net2", "net3", "net4")
CIFAR_NETS = ("net5", "net6")
LOSSES = (0.01, 0.001, 0.0)
M_VALUES = (1, 3, 7, 15, 31, 63, 127)
NOT_MEASURED = "not measured: no CIFAR10 data or GPU here"

# The paper's numbers (accuracies as fractions; events per image).
PAPER_T2 = {"net1": {"datanorm": (0.9868, 0.9864), "ter": (0.9877, 0.9877)},
            "net2": {"datanorm": (0.9914, 0.9910), "ter": (0.9935, 0.9935)}}
PAPER_T3 = {  # ANN acc., then per method (SNN acc., latency, events per image)
    "net1": {"ann": 0.9877, "ter": (0.9877, 750, 0.03e6), "aug": (0.9877, 46, 0.02e6)},
    "net2": {"ann": 0.9935, "ter": (0.9935, 750, 0.28e6), "aug": (0.9935, 65, 0.11e6)},
    "net3": {"ann": 0.9018, "ter": (0.9018, 1500, 0.05e6), "aug": (0.9018, 37, 0.03e6)},
    "net4": {"ann": 0.9211, "ter": (0.9211, 2900, 2.45e6), "aug": (0.9211, 220, 0.68e6)},
    "net5": {"ann": 0.9413, "ter": (0.9375, 2800, 15.36e6), "aug": (0.9390, 300, 12.51e6)},
    "net6": {"ann": 0.9342, "ter": (0.9230, 4400, 17.66e6), "aug": (0.9329, 1100, 18.10e6)},
}
PAPER_T4 = {  # (latency reduction, events reduction) at < 1%, < 0.1%, 0% loss
    "net1": ((33, 13.8, 16.3), (2.8, 1.3, 1.5)), "net2": ((11, 15.8, 11.5), (2.9, 3.9, 2.7)),
    "net3": ((42.5, 30.9, 40.5), (1.9, 1.1, 1.4)), "net4": ((3.1, 3.1, 13.2), (0.8, 0.8, 3.6)),
}
PAPER_E = {"net5": ("35.55%", "35.4%", "32.9%"), "net6": ("12.36%", "below chance",
                                                           "below chance")}
TOPOLOGY = {"net5": "128c3-128c3-p2-256c3-256c3-p2-512c3-512c3-p2-1024-10",
            "net6": "VGG16 (13 3x3 convs, 5 pools, 3 dense)"}



def pct(a) -> str:
    """A fraction as a percentage with two decimals; an em dash for None."""
    return "—" if a is None else f"{a * 100:.2f}%"


def num(x) -> str:
    """A count with thousands separators; an em dash for None."""
    return "—" if x is None else f"{x:,.0f}"

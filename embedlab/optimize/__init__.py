"""Fast inference: ONNX, OpenVINO int8 and static variants of any model, measured on your data and hardware.

Example:
    >>> from embedlab.optimize import optimize
    >>> report = optimize(None, load_beir("my-bench", split="dev"), work_dir="work", name="fast")  # doctest: +SKIP
    >>> report.chosen  # needs a BEIR folder and the extras; minutes  # doctest: +SKIP
    'onnx-int8'
"""

from embedlab.optimize.cpu import check_isa, cpu_isa, has_vnni
from embedlab.optimize.parity import ParityRecord, measure_parity, parity_from_vectors
from embedlab.optimize.run import Candidate, OptimizeReport, optimize
from embedlab.optimize.variants import KINDS, VariantInfo, build_variant, read_variant, saved_backend

__all__ = [
    "KINDS",
    "Candidate",
    "OptimizeReport",
    "ParityRecord",
    "VariantInfo",
    "build_variant",
    "check_isa",
    "cpu_isa",
    "has_vnni",
    "measure_parity",
    "optimize",
    "parity_from_vectors",
    "read_variant",
    "saved_backend",
]

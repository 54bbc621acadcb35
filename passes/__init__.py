"""sncc.passes: the registered transformation and analysis passes.

Importing this package registers every pass with `sncc.pass_manager`.
"""
from sncc.passes import (  # noqa: F401  (registration)
    assume_scale, bitwidth_report, calibrate, canonicalize, convert_to_snn, dce, fold_avgpool, fold_batchnorm, normalize,
    quantize)

"""sncc: a compiler from trained ANNs to spiking neural networks.

    >>> import sncc
    >>> m = sncc.ir.parse('''
    ... module @m {
    ...   %x = input {index = 0} : tensor<2xf32>
    ...   %y = relu(%x) : tensor<2xf32>
    ...   return %y
    ... }''')
    >>> print(sncc.PassManager.parse("canonicalize").run(m).to_text(), end="")
    module @m {
      %x = input {index = 0} : tensor<2xf32>
      %y = relu(%x) : tensor<2xf32>
      return %y
    }
"""
from sncc import ir
from sncc.api import SpikingNetwork, convert, load
from sncc.errors import ParseError, SnccError, UnsupportedError, VerificationError
from sncc.interpreter import interpret
from sncc.ir import Module, parse
from sncc.onnx_frontend import import_onnx
from sncc.nir_frontend import import_nir
from sncc.pass_manager import Pass, PassManager, register_pass
import sncc.passes  # noqa: E402,F401  (registers the passes)

__version__ = "0.1.0"


def __getattr__(name):  # torch is optional: sncc.nn and sncc.QCFSActivation import it on first use
    if name in ("nn", "QCFSActivation", "replace_relu_with_qcfs"):
        import importlib

        nn = importlib.import_module("sncc.nn")
        return nn if name == "nn" else getattr(nn, name)
    raise AttributeError(f"module 'sncc' has no attribute '{name}'")


__all__ = ["ir", "convert", "load", "SpikingNetwork", "QCFSActivation", "nn", "Module", "parse", "import_onnx", "import_nir", "interpret", "Pass", "PassManager", "register_pass",
           "SnccError", "ParseError", "UnsupportedError", "VerificationError"]

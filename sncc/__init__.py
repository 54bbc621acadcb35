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
from sncc.errors import ParseError, SnccError, UnsupportedError, VerificationError
from sncc.interpreter import interpret
from sncc.ir import Module, parse
from sncc.onnx_frontend import import_onnx
from sncc.pass_manager import Pass, PassManager, register_pass
import sncc.passes  # noqa: E402,F401  (registers the passes)

__version__ = "0.1.0"

__all__ = ["ir", "Module", "parse", "import_onnx", "interpret", "Pass", "PassManager", "register_pass",
           "SnccError", "ParseError", "UnsupportedError", "VerificationError"]

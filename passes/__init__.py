"""sncc.passes: the registered transformation and analysis passes.

Importing this package registers every pass with `sncc.pass_manager`.
"""
from sncc.passes import canonicalize, dce, fold_batchnorm  # noqa: F401  (registration)

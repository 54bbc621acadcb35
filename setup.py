"""Compiles the Cython kernels in runtime/ (as sncc.runtime.*); metadata lives in pyproject.toml."""
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

here = Path(__file__).parent
extensions = [
    Extension(
        f"sncc.runtime.{pyx.stem}",
        [str(pyx.relative_to(here))],
        include_dirs=[np.get_include()],
        extra_compile_args=["-O3", "-fopenmp", "-fno-trapping-math"],
        extra_link_args=["-fopenmp"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((here / "runtime").glob("*.pyx"))
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}))

"""Build the gcnn._core extension.

The only build-time decisions: NumPy's include directory, and whether the C
compiler takes OpenMP (probed by compiling a tiny program; without it the
kernels run serially and give the same numbers).  Never -march=native or
-ffast-math: wider SIMD is chosen at run time inside csrc/corr2d.c.
"""

import os
import sys
import tempfile

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

SOURCES = [
    "csrc/gcnn_module.c",
    "csrc/corr2d.c",
    "csrc/channels.c",
    "csrc/simd.c",
    "csrc/peak.c",
]


def _compiler_accepts(compiler, flags, libs=()):
    """True when `compiler` compiles and links an OpenMP program with `flags`."""
    code = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=list(flags))
            compiler.link_executable(
                objects, "probe", output_dir=tmp, extra_postargs=list(flags) + list(libs)
            )
        except (CompileError, LinkError, OSError):
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            compile_args, link_args, omp = ["/O2"], [], ["/openmp"]
        else:
            # gnu99: ISO C99 plus the GNU vector extensions the kernels use;
            # fp-contract lets the compiler fuse multiply-adds (ISO mode
            # would forbid it and halve the speed).
            compile_args = ["-O3", "-std=gnu99", "-ffp-contract=fast", "-fno-math-errno"]
            link_args, omp = [], ["-fopenmp"]
        use_omp = os.environ.get("GCNN_NO_OPENMP", "") == "" and _compiler_accepts(
            self.compiler, omp
        )
        if use_omp:
            compile_args += omp
            link_args += omp
        else:
            print("gcnn: building without OpenMP (kernels run on one thread)", file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "gcnn._core",
            sources=SOURCES,
            include_dirs=[numpy.get_include(), "csrc"],
            depends=[
                f"csrc/{name}"
                for name in (
                    "gcnn_kernels.h",
                    "kernel_common.h",
                    "simd_paths.h",
                    "simd_types.h",
                    "int_types.h",
                    "simd_vec.h",
                    "simd_vec_end.h",
                    "corr2d_bodies.h",
                    "corr2d_impl.h",
                    "grad_impl.h",
                    "channels_impl.h",
                    "pool_impl.h",
                )
            ],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)

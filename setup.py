"""Build the gcnn._core extension.

The only build-time decisions: NumPy's include directory and the compiler's
flags.  The kernels' worker threads are POSIX threads (csrc/threads.c);
where there are none (MSVC) every call runs on the calling thread and gives
the same numbers.  Never -march=native or -ffast-math: wider SIMD is chosen at
run time (csrc/simd.c).
"""

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = [
    "csrc/gcnn_module.c",
    "csrc/corr2d.c",
    "csrc/winograd.c",
    "csrc/channels.c",
    "csrc/simd.c",
    "csrc/threads.c",
    "csrc/peak.c",
]


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            compile_args, link_args = ["/O2"], []
        else:
            # gnu99: ISO C99 plus the GNU vector extensions the kernels use;
            # fp-contract lets the compiler fuse multiply-adds (ISO mode
            # would forbid it and halve the speed).
            compile_args = [
                "-O3",
                "-std=gnu99",
                "-ffp-contract=fast",
                "-fno-math-errno",
                "-pthread",
            ]
            link_args = ["-pthread"]
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
                    "threads.h",
                    "simd_paths.h",
                    "simd_types.h",
                    "int_types.h",
                    "simd_vec.h",
                    "simd_vec_end.h",
                    "corr2d_bodies.h",
                    "corr2d_impl.h",
                    "grad_impl.h",
                    "winograd.h",
                    "winograd_impl.h",
                    "channels_impl.h",
                    "pool_impl.h",
                )
            ],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)

"""Build the gcnn._core extension.

The only build-time decisions: NumPy's include directory and the compiler's
flags.  The kernels' worker threads are POSIX threads (csrc/threads.c);
where there are none (MSVC) every call runs on the calling thread and gives
the same numbers.  Never -march=native or -ffast-math: wider SIMD is chosen at
run time (csrc/simd.c).

Installing again (e.g. ``pip install -e ".[test]"`` after ``pip install -e .``)
builds in a fresh temporary directory, which would compile the C core from
scratch.  So every build keeps the compiled extension in a cache under
build/core-cache (or $GCNN_BUILD_CACHE; "off" disables it), keyed by the
contents of every C source and header, the compiler, its flags, Python's ABI
and NumPy's version: a build whose key is there copies the extension instead
of compiling it.  ``build_ext --force`` always compiles.
"""

import hashlib
import os
import shutil
import sys
import sysconfig

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# Compiled extensions kept (the newest by use); each is a few MB.
CACHE_ENTRIES = 4

SOURCES = [
    "csrc/gcnn_module.c",
    "csrc/corr2d.c",
    "csrc/winograd.c",
    "csrc/channels.c",
    "csrc/simd.c",
    "csrc/threads.c",
    "csrc/peak.c",
    "csrc/output_pool.c",
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

    def build_extension(self, ext):
        cache = os.environ.get("GCNN_BUILD_CACHE") or os.path.join(HERE, "build", "core-cache")
        if cache == "off" or self.force:
            return super().build_extension(ext)
        target = self.get_ext_fullpath(ext.name)
        entry = os.path.join(cache, self._cache_key(ext))
        cached = os.path.join(entry, os.path.basename(target))
        if os.path.isfile(cached):
            print(f"gcnn: {ext.name} unchanged, copied from the build cache {entry}")
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(cached, target)
            os.utime(entry)  # most recently used
            return None
        super().build_extension(ext)
        try:
            os.makedirs(entry, exist_ok=True)
            shutil.copyfile(target, cached + ".part")
            os.replace(cached + ".part", cached)  # whole or absent, even if interrupted
            self._trim_cache(cache)
        except OSError as error:  # a read-only tree, say: the build itself succeeded
            print(f"gcnn: build cache not written ({error})")
        return None

    def _cache_key(self, ext):
        """What the compiled extension depends on: change any of it and the key changes."""
        digest = hashlib.sha256()

        def add(*parts):
            for part in parts:
                digest.update(repr(part).encode() + b"\0")

        for name in sorted(set(ext.sources) | set(ext.depends)):
            with open(os.path.join(HERE, name), "rb") as handle:
                add(name, hashlib.sha256(handle.read()).hexdigest())
        compiler = self.compiler
        add(compiler.compiler_type, getattr(compiler, "compiler_so", None))
        add(getattr(compiler, "linker_so", None), ext.extra_compile_args, ext.extra_link_args)
        add(ext.define_macros, ext.undef_macros, ext.libraries, self.define, self.undef)
        add(sys.version, sysconfig.get_config_var("EXT_SUFFIX"), sys.platform, numpy.__version__)
        add(os.environ.get("CFLAGS"), os.environ.get("CPPFLAGS"), os.environ.get("LDFLAGS"))
        return digest.hexdigest()[:32]

    @staticmethod
    def _trim_cache(cache):
        entries = [os.path.join(cache, name) for name in os.listdir(cache)]
        entries.sort(key=os.path.getmtime, reverse=True)
        for stale in entries[CACHE_ENTRIES:]:
            shutil.rmtree(stale, ignore_errors=True)


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
                    "peak.h",
                    "output_pool.h",
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
                    "relu_impl.h",
                )
            ],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)

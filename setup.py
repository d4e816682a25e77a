"""Builds the C host services (native/) with cffi at install time, and ships the C runtime the os
engine compiles guests against as vm/_native; everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NATIVE = Path(__file__).parent / "native"


class BuildWithNativeSources(build_py):
    """A built package carries native/*.c and *.h (an editable install reads them from native/)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "vm" / "_native"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(NATIVE.glob("*.[ch]")):
            self.copy_file(str(source), str(target / source.name))


setup(cffi_modules=["native/build_hostcalls.py:ffibuilder"], cmdclass={"build_py": BuildWithNativeSources})

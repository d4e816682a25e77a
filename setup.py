"""Builds the C host services (native/) with cffi at install time; everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["native/build_hostcalls.py:ffibuilder"])

"""The one compiled piece: dora_api._samplebuf (send_output_raw's buffer on Python 3.11).

Optional: without a C compiler the package still installs; send_output_raw then needs
Python 3.12 or later (see dora_api/raw_sample.py). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("dora_api._samplebuf", ["dora_api/_samplebuf.c"], optional=True)])

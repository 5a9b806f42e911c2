"""Packages for setuptools: loopnode's own, plus the source folder `examples/` installed as `loopnode.examples`.

setup.cfg holds everything else; `packages = find:` there cannot rename a folder, so the list is built here.
"""
from setuptools import find_packages, setup

EXAMPLES = [f'loopnode.{name}' for name in find_packages(include=['examples', 'examples.*'])]

setup(
    packages=find_packages(include=['loopnode', 'loopnode.*']) + EXAMPLES,
    package_dir={'loopnode.examples': 'examples'},
)

"""Package layout only (metadata and dependencies are in pyproject.toml).

pyproject's ``packages.find`` cannot ship a folder under another name, so the packages are listed here: the code
packages, and ``data/`` installed as ``reporta_data`` (with every file under it, see ``package-data`` in
pyproject.toml) so that ``pip install .`` gives a Reporta that starts with the default catalog, templates and NLU
data. The repository's ``data/`` stays where it is; ``reporta/datadir.py`` finds either.
"""

from setuptools import find_namespace_packages, setup

CODE = ["reporta*", "bot*", "nlu*", "dialogue*", "ticketing*", "notifications*", "web*"]
DATA = ["reporta_data", *(f"reporta_data.{p}" for p in find_namespace_packages(where="data"))]

setup(
    packages=[*find_namespace_packages(include=CODE), *DATA],
    package_dir={"reporta_data": "data"},
)

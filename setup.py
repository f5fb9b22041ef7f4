"""Packaging pyproject.toml cannot express: the Streamlit app and the example plans, edited in the
top-level dashboards/ and examples/, ship inside the wheel as capplan/dashboards/ and capplan/examples/
so `pip install capplan && capplan dashboard` works with its example plans."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["capplan", "capplan.*"]),
        "capplan.dashboards",
        "capplan.dashboards.sections",
        "capplan.examples",
    ],
    package_dir={"capplan.dashboards": "dashboards", "capplan.examples": "examples"},
)

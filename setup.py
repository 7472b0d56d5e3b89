"""innspector-tb: iNNspector, the visual and interactive deep-model debugger, as a TensorBoard plugin."""

import os

import setuptools

_HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    scope = {}
    with open(os.path.join(_HERE, "innspector_tb", "version.py")) as f:
        exec(f.read(), scope)  # our own file, read at build time only
    return scope["VERSION"]


setuptools.setup(
    name="innspector-tb",
    version=_version(),
    description="iNNspector: visual, interactive deep model debugging inside TensorBoard",
    long_description=open(os.path.join(_HERE, "README.md")).read()
    if os.path.exists(os.path.join(_HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["innspector_tb", "innspector_tb.*"]),
    package_data={"innspector_tb": ["static/*", "data/*.json", "tools/*.json", "server/*.json"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorboard>=2.21,<2.22",
        "werkzeug>=3",
        "protobuf>=7.35.1",
        "numpy>=1.26",
        "scipy>=1.11",
        "h5py>=3.10",
        "hdf5plugin>=4.1",
        "zstandard>=0.21",
        "jsonschema>=4.18",
    ],
    entry_points={
        "tensorboard_plugins": ["innspector = innspector_tb.plugin:InnspectorLoader"],
        "console_scripts": ["innspector-tb = innspector_tb.cli:main"],
    },
    classifiers=[
        "Framework :: TensorFlow",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

"""Everything else is in pyproject.toml. This ships ``mirror_hf_evaluate.pth`` into site-packages, which makes a
bare ``evaluate.load("wai_alliance")`` work (see mirror_hf/metrics/__init__.py), and maps the top-level card
template folders ``dataset_card/`` and ``model_card/`` into the package as ``mirror_hf.dataset_card`` and
``mirror_hf.model_card``."""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "mirror_hf_evaluate.pth"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        self.copy_file(PTH, str(Path(self.build_lib) / PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


class EditableWheelWithPth(editable_wheel):
    """``pip install -e`` builds its own wheel without build_py's extra files: add the .pth to it as well."""

    def _create_wheel_file(self, bdist_wheel):
        from wheel.wheelfile import WheelFile

        wheel_path = super()._create_wheel_file(bdist_wheel)
        with WheelFile(wheel_path, "a") as wheel:
            wheel.write(PTH)
        return wheel_path


CARD_FOLDERS = {"mirror_hf.dataset_card": "dataset_card", "mirror_hf.model_card": "model_card"}

setup(
    packages=[*find_namespace_packages(include=["mirror_hf*"]), *CARD_FOLDERS],  # as pyproject's find did
    package_dir=CARD_FOLDERS,
    cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth},
)

import keyworker
from keyworker import _core


def test_native_module_matches_package_version() -> None:
    assert _core.__version__ == keyworker.__version__

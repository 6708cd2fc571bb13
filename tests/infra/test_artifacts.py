"""The Lambda artifacts builder (infra/build_artifacts.py): its pure parts, and one real build.

The real build (x86_64) takes ~10-20 s once cargo has built target/lambda, about a minute on a
fresh checkout; it is part of the normal run, marked slow.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_builder() -> ModuleType:
    # infra/ is not a package; dataclasses need the module registered before it runs.
    spec = importlib.util.spec_from_file_location(
        "build_artifacts", ROOT / "infra" / "build_artifacts.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ba = _load_builder()
X86 = ba.ARCHES["x86_64"]
ARM = ba.ARCHES["arm64"]

AUDITWHEEL_X86 = """
keyworker-0.1.0-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
is consistent with the following platform tag:
"manylinux_2_17_x86_64".

The wheel references external versioned symbols in these
system-provided shared libraries: libc.so.6 with versions
{'GLIBC_2.2.5', 'GLIBC_2.3', 'GLIBC_2.3.4', 'GLIBC_2.14'},
libpthread.so.0 with versions {'GLIBC_2.2.5'}, libdl.so.2 with
versions {'GLIBC_2.2.5'}

This constrains the platform tag to "manylinux_2_17_x86_64". In order
to achieve a more compatible tag, you would need to recompile a new
wheel from source on a system with earlier versions of these
libraries, such as a recent manylinux image.
"""


# --- requirements --------------------------------------------------------------------------


def test_runtime_requirements_are_the_project_dependencies_without_extras(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["boto3>=1.34", "pydantic>=2.6"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8"]\n'
    )
    assert ba.runtime_requirements(pyproject) == ["boto3>=1.34", "pydantic>=2.6"]


def test_this_projects_runtime_requirements_include_the_lambda_libraries() -> None:
    names = [
        r.split(">")[0].split("[")[0] for r in ba.runtime_requirements(ROOT / "pyproject.toml")
    ]
    assert {"boto3", "pydantic", "aws-lambda-powertools"} <= set(names)
    assert "pytest" not in names
    assert "ziglang" not in names


def test_malformed_dependencies_are_named_in_the_error(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = "boto3"\n')
    with pytest.raises(ba.ArtifactError, match=r"\[project\]\.dependencies"):
        ba.runtime_requirements(pyproject)


def test_pins_come_from_the_tested_virtualenv_without_the_package_itself() -> None:
    freeze = "\n".join(
        [
            "# Editable install with no version control (keyworker==0.1.0)",
            "-e /work/main",
            "boto3==1.44.8",
            "Pydantic_Core==2.50.5",
            "KeyWorker==0.1.0",
            "somelib @ file:///tmp/somelib-1.0-py3-none-any.whl",
            "",
        ]
    )
    assert ba.pins_from_freeze(freeze) == ["boto3==1.44.8", "Pydantic_Core==2.50.5"]


def test_pip_is_asked_for_the_targets_wheels_not_this_machines(tmp_path: Path) -> None:
    command = ba.pip_install_command(
        "/venv/python", tmp_path / "python", ARM, (3, 12), ["pydantic>=2.6"], tmp_path / "c.txt"
    )
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms == ["manylinux2014_aarch64", "manylinux_2_17_aarch64"]
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1] == str(tmp_path / "python")
    assert command[command.index("--constraint") + 1] == str(tmp_path / "c.txt")
    assert command[-1] == "pydantic>=2.6"
    assert not any("x86_64" in arg for arg in command)


@pytest.mark.parametrize(
    ("template", "runtime"),
    [
        (None, (3, 12)),
        ("Resources: {}\n", (3, 12)),
        ("Globals:\n  Function:\n    Runtime: python3.11\n", (3, 11)),
        ('Globals:\n  Function:\n    Runtime: "python3.13"  # newest\n', (3, 13)),
        ("    # Runtime: python3.9\n    Runtime: python3.12\n    Runtime: python3.12\n", (3, 12)),
    ],
)
def test_the_runtime_comes_from_the_template_else_python312(
    template: str | None, runtime: tuple[int, int]
) -> None:
    assert ba.template_runtime(template) == runtime


def test_a_template_with_two_python_runtimes_is_refused() -> None:
    with pytest.raises(ba.ArtifactError, match=r"python3\.11, python3\.12"):
        ba.template_runtime("Runtime: python3.12\nRuntime: python3.11\n")


# --- the native module wheel ---------------------------------------------------------------


def test_a_manylinux2014_abi3_wheel_name_is_accepted_for_its_architecture() -> None:
    name = "keyworker-0.1.0-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    assert ba.check_wheel_name(name, X86) == (
        "cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64"
    )
    with pytest.raises(ba.NotManylinux):
        ba.check_wheel_name(name, ARM)


@pytest.mark.parametrize(
    "name",
    [
        "keyworker-0.1.0-cp311-abi3-linux_x86_64.whl",
        "keyworker-0.1.0-cp311-cp311-manylinux2014_x86_64.whl",
        "keyworker-0.1.0-cp311-abi3-manylinux_2_28_x86_64.whl",
    ],
)
def test_wheels_lambda_might_not_load_are_refused(name: str) -> None:
    with pytest.raises(ba.NotManylinux):
        ba.check_wheel_name(name, X86)


def test_auditwheel_tag_is_read_from_its_report() -> None:
    assert ba.parse_auditwheel(AUDITWHEEL_X86, X86) == "manylinux_2_17_x86_64"


@pytest.mark.parametrize(
    ("tag", "arch"),
    [
        ("linux_x86_64", X86),
        ("manylinux_2_28_x86_64", X86),
        ("manylinux_2_17_x86_64", ARM),
    ],
)
def test_auditwheel_reports_that_are_not_manylinux2014_fail(tag: str, arch: object) -> None:
    report = AUDITWHEEL_X86.replace('"manylinux_2_17_x86_64".', f'"{tag}".', 1)
    with pytest.raises(ba.NotManylinux, match=tag):
        ba.parse_auditwheel(report, arch)


def test_an_auditwheel_report_without_a_tag_fails() -> None:
    with pytest.raises(ba.NotManylinux, match="no platform tag"):
        ba.parse_auditwheel("nothing useful", X86)


# --- the Rust toolchain for another architecture ---------------------------------------------


def test_target_std_is_found_only_where_rustup_puts_it(tmp_path: Path) -> None:
    assert not ba.target_std_installed(tmp_path, "aarch64-unknown-linux-gnu")
    lib = tmp_path / "lib" / "rustlib" / "aarch64-unknown-linux-gnu" / "lib"
    lib.mkdir(parents=True)
    (lib / "libstd-0123abcd.rlib").write_bytes(b"")
    assert ba.target_std_installed(tmp_path, "aarch64-unknown-linux-gnu")
    assert not ba.target_std_installed(tmp_path, "x86_64-unknown-linux-gnu")


def test_a_missing_std_says_exactly_what_is_needed() -> None:
    message = ba.missing_std_message(
        "aarch64-unknown-linux-gnu",
        Path("/toolchains/1.95"),
        "rustc 1.95.0",
        "error: could not download file",
    )
    assert "rust-std component for aarch64-unknown-linux-gnu" in message
    assert "rustc 1.95.0" in message
    assert "/toolchains/1.95/lib/rustlib/aarch64-unknown-linux-gnu/lib" in message
    assert "could not download file" in message


def _result(arch: str) -> object:
    return ba.ArchResult(arch, "python3.12")


def test_default_build_reports_arm64_it_cannot_build_and_still_builds_x86_64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_build(arch: object, runtime: tuple[int, int], out: Path) -> object:
        if arch is ARM:
            raise ba.ToolchainMissing("no rust-std for aarch64")
        return _result("x86_64")

    monkeypatch.setattr(ba, "build_arch", fake_build)
    assert ba.main(["--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "artifacts.json").read_text())
    assert [b["arch"] for b in summary["built"]] == ["x86_64"]
    assert summary["not_built"] == {"arm64": "no rust-std for aarch64"}
    # Asked for by name, a missing arm64 toolchain is a failure.
    assert ba.main(["--out", str(tmp_path), "--arch", "arm64"]) == 1


# --- what goes into the layer --------------------------------------------------------------


def _elf(machine: int) -> bytes:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def test_elf_machine_is_read_from_the_header() -> None:
    assert ba.elf_machine(_elf(62)) == 62
    assert ba.elf_machine(_elf(183)) == 183
    assert ba.elf_machine(b"#!/bin/sh\n" + bytes(20)) is None


def test_native_extensions_for_another_python_or_machine_are_reported(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "_fast.cpython-312-x86_64-linux-gnu.so").write_bytes(_elf(62))
    (tmp_path / "good" / "_core.abi3.so").write_bytes(_elf(62))
    (tmp_path / "libhelper.so").write_bytes(_elf(62))
    assert ba.native_extension_problems(tmp_path, X86, (3, 12)) == []

    (tmp_path / "hostpy").mkdir()
    (tmp_path / "hostpy" / "_x.cpython-311-x86_64-linux-gnu.so").write_bytes(_elf(62))
    (tmp_path / "arm.abi3.so").write_bytes(_elf(183))
    problems = ba.native_extension_problems(tmp_path, X86, (3, 12))
    assert len(problems) == 2
    assert any("cpython-311" in p and "another Python" in p for p in problems)
    assert any(p.startswith("arm.abi3.so: ELF machine 183") for p in problems)


def test_top_level_modules_are_packages_and_modules_not_metadata(tmp_path: Path) -> None:
    for package in ("pydantic", "wrapt-stubs", "__pycache__"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pydantic-2.0.dist-info").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "docs").mkdir()  # a folder without __init__.py is not importable as a package
    (tmp_path / "six.py").write_text("")
    (tmp_path / "_cffi_backend.cpython-312-x86_64-linux-gnu.so").write_bytes(_elf(62))
    (tmp_path / "CHANGELOG.md").write_text("")
    assert ba.top_level_modules(tmp_path) == ["_cffi_backend", "pydantic", "six"]


def test_import_failures_blame_the_layer_not_a_handlers_missing_environment() -> None:
    imports = {
        "pydantic": "ok",
        "keyworker.handlers.api": "raised at import: KeyError: 'TABLE_NAME'",
        "keyworker.handlers.worker": "missing module: cryptography",
        "keyworker.handlers.events": "cannot import: wrong ELF class: ELFCLASS32",
        "wrapt": "raised at import: RuntimeError: boom",
    }
    handlers = ["keyworker.handlers.api", "keyworker.handlers.worker", "keyworker.handlers.events"]
    assert ba.import_failures(imports, handlers) == [
        "keyworker.handlers.worker: missing module: cryptography",
        "keyworker.handlers.events: cannot import: wrong ELF class: ELFCLASS32",
        "wrapt: raised at import: RuntimeError: boom",
    ]


# --- zips ----------------------------------------------------------------------------------


def _tree(root: Path) -> None:
    (root / "keyworker" / "__pycache__").mkdir(parents=True)
    (root / "keyworker" / "__init__.py").write_text("x = 1\n")
    (root / "keyworker" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (root / "keyworker" / "_core.abi3.so").write_bytes(_elf(62) * 10)
    (root / "keyworker" / "_core.abi3.so").chmod(0o775)
    (root / "six.py").write_text("# six\n" * 100)


def test_development_code_is_left_out_of_the_layer() -> None:
    assert ba.is_development_only("keyworker/local/stack.py")
    assert ba.is_development_only("keyworker/cli.py")
    assert ba.is_development_only("keyworker/infra_template.py")
    assert not ba.is_development_only("keyworker/handlers/api.py")
    assert not ba.is_development_only("keyworker/domain/pipeline.py")


def test_zips_are_deterministic_prefixed_and_without_bytecode(tmp_path: Path) -> None:
    _tree(tmp_path / "src")
    first = ba.write_zip(tmp_path / "src", tmp_path / "a.zip", "python/")
    # Same content, other times: the zip must not change.
    for path in (tmp_path / "src").rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = ba.write_zip(tmp_path / "src", tmp_path / "b.zip", "python/")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert first == second
    assert [e.name for e in first] == [
        "python/keyworker/__init__.py",
        "python/keyworker/_core.abi3.so",
        "python/six.py",
    ]
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        assert archive.read("python/six.py") == b"# six\n" * 100
    assert modes == {
        "python/keyworker/__init__.py": 0o644,
        "python/keyworker/_core.abi3.so": 0o755,
        "python/six.py": 0o644,
    }
    assert first[2].size == 600
    assert first[2].compressed < 600


def test_listing_has_every_file_with_its_sizes_and_the_totals() -> None:
    entries = [ba.ZipEntry("python/a/x.py", 100, 40), ba.ZipEntry("python/b.py", 23, 20)]
    listing = ba.format_listing("layer.zip", entries, 250).splitlines()
    assert listing[0] == "# layer.zip: 2 files, 123 bytes unzipped, 250 bytes zipped"
    assert listing[2].split() == ["100", "40", "python/a/x.py"]
    assert listing[3].split() == ["23", "20", "python/b.py"]
    assert ba.summarize_by_top_level(entries, depth=2) == [
        ("python/a", 1, 100),
        ("python/b.py", 1, 23),
    ]


def test_the_250_mb_unzipped_limit_is_enforced() -> None:
    ba.check_unzipped_limit(ba.LAMBDA_UNZIPPED_LIMIT)
    assert ba.LAMBDA_UNZIPPED_LIMIT == 262_144_000
    with pytest.raises(ba.TooLarge, match="262,144,001 bytes"):
        ba.check_unzipped_limit(ba.LAMBDA_UNZIPPED_LIMIT + 1)


def test_sbom_serial_and_time_depend_only_on_content_and_epoch() -> None:
    def sbom(serial: str, components: list[str]) -> dict[str, object]:
        return {
            "serialNumber": f"urn:uuid:{serial}",
            "metadata": {"timestamp": "2026-11-26T17:58:21.2Z", "tools": []},
            "components": components,
        }

    a = ba.deterministic_sbom(sbom("1111", ["pyo3"]), 1_700_000_000)
    b = ba.deterministic_sbom(sbom("2222", ["pyo3"]), 1_700_000_000)
    c = ba.deterministic_sbom(sbom("1111", ["pyo3", "ring"]), 1_700_000_000)
    assert a == b
    assert a["serialNumber"] != c["serialNumber"]
    assert str(a["serialNumber"]).startswith("urn:uuid:")
    assert a["metadata"] == {"timestamp": "2023-11-14T22:13:20Z", "tools": []}


def test_record_lines_use_the_wheel_hash_format() -> None:
    content = b"keyworker"
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).decode().rstrip("=")
    assert ba.record_line("k/x.json", content) == f"k/x.json,sha256={digest},9"
    assert ba.record_line("e", b"") == "e,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0"


# --- one real build --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_make_artifacts_builds_a_layer_lambda_can_load(tmp_path: Path) -> None:
    out = tmp_path / "build"
    assert ba.main(["--arch", "x86_64", "--out", str(out)]) == 0
    summary = json.loads((out / "artifacts.json").read_text())
    [built] = summary["built"]
    assert built["auditwheel_tag"] == "manylinux_2_17_x86_64"
    assert built["wheel_tag"].startswith("cp311-abi3-manylinux2014_x86_64")
    assert built["unzipped_total_bytes"] <= ba.LAMBDA_UNZIPPED_LIMIT

    layer_zip = out / "keyworker-layer-x86_64.zip"
    with zipfile.ZipFile(layer_zip) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "opt")
    assert all(name.startswith("python/") for name in names)
    assert "python/keyworker/_core.abi3.so" in names
    # Built for the template's runtime; pydantic-core fetched for it, not copied from here.
    template = ba.TEMPLATE.read_text() if ba.TEMPLATE.exists() else None
    runtime = ba.template_runtime(template)
    assert built["runtime"] == "python{}.{}".format(*runtime)
    cpython = "cpython-{}{}-x86_64-linux-gnu".format(*runtime)
    assert f"python/pydantic_core/_pydantic_core.{cpython}.so" in names
    assert ba.native_extension_problems(tmp_path / "opt" / "python", X86, runtime) == []
    assert not any("/__pycache__/" in n for n in names)
    # What ships: the package without its development code.
    shipped = sorted({n.split("/")[2] for n in names if n.startswith("python/keyworker/")})
    assert "local" not in shipped
    assert not [n for n in names if ba.is_development_only(n.removeprefix("python/"))]
    assert "python/keyworker/handlers/api.py" in names
    listing = (out / "keyworker-layer-x86_64.txt").read_text()
    assert "python/keyworker/_core.abi3.so" in listing
    assert len(listing.splitlines()) == len(names) + 2

    with zipfile.ZipFile(out / "keyworker-function-x86_64.zip") as archive:
        manifest = json.loads(archive.read(ba.BUILD_MANIFEST))
    assert manifest["layer_sha256"] == hashlib.sha256(layer_zip.read_bytes()).hexdigest()
    assert manifest["runtime"] == built["runtime"]

    # The abi3 module imports in this machine's Python from the unzipped layer alone (-S: no
    # site-packages, so not the virtualenv's editable install).
    imported = subprocess.run(
        [sys.executable, "-S", "-c", "import keyworker._core as c; print(c.__file__)"],
        env={"PYTHONPATH": str(tmp_path / "opt" / "python"), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=True,
        text=True,
        capture_output=True,
    )
    assert imported.stdout.strip() == str(tmp_path / "opt" / "python/keyworker/_core.abi3.so")
    if built["imported_with"]:
        assert built["imports"]["keyworker._core"] == "ok"
        assert built["imports"]["pydantic_core"] == "ok"

    # Unchanged source: the same layer bytes, so a deploy publishes no new layer version.
    assert ba.main(["--arch", "x86_64", "--out", str(out)]) == 0
    rebuilt = json.loads((out / "artifacts.json").read_text())["built"][0]
    assert rebuilt["layer"]["sha256"] == built["layer"]["sha256"]

"""Build what AWS Lambda loads: the keyworker layer and the function code zip, per architecture.

Run it as ``make artifacts`` (or ``.venv/bin/python infra/build_artifacts.py [--arch ...]``).
For each architecture (``x86_64`` and ``arm64``, Lambda's names) it:

1. builds the native module as a manylinux2014 abi3 wheel with maturin and zig (cross-linking
   against glibc 2.17 instead of this machine's glibc), in its own cargo target dir so it never
   invalidates the dev build, and fails unless ``auditwheel show`` agrees the wheel is
   manylinux2014;
2. installs that wheel and the package's runtime dependencies (``[project].dependencies``),
   pinned to the versions the project's virtualenv was tested with, for the *target* platform
   (the template's Python runtime, python3.12 unless it says otherwise; manylinux2014) so
   native dependencies such as pydantic-core are the wheels Lambda can load, never this
   machine's;
3. zips the layer (``python/...``) and the function code, deterministically, writes a listing
   of each zip with sizes, and fails if the unzipped total passes Lambda's 250 MB limit;
4. checks every native extension in the layer is for the target machine and Python, and, where
   that Python exists here for the same machine, imports the layer in a fresh interpreter that
   sees nothing but the layer (as Lambda's /opt/python).

Outputs go to ``build/`` (see ``docs/deploy.md``); ``build/artifacts.json`` sums them up.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "keyworker"
# The Python of Lambda's runtime, when infra/template.yaml does not name one: the wheels fetched
# for the layer (cp312) only load in this exact version.
DEFAULT_LAMBDA_PYTHON = (3, 12)
TEMPLATE = ROOT / "infra" / "template.yaml"
# Lambda's limit on a function's unzipped code plus all its layers: 250 MB (262,144,000 bytes).
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# manylinux2014 promises glibc 2.17 at most; Lambda's python3.12 runtime (Amazon Linux 2023)
# has 2.34, so anything the wheel tag accepts also loads there.
MANYLINUX2014_GLIBC = (2, 17)
# Development-only parts of the package (the local stack and its demo, the command line, the
# template loader): left out of the layer. The handlers never import them
# (tests/architecture/test_layout.py).
DEVELOPMENT_ONLY = (
    "keyworker/local/",
    "keyworker/cli.py",
    "keyworker/revocation/cli.py",
    "keyworker/infra_template.py",
)
# The handlers the SAM template points at; others write them, so they may not exist yet.
HANDLER_MODULES = (
    "keyworker.handlers.api",
    "keyworker.handlers.worker",
    "keyworker.handlers.events",
    "keyworker.handlers.expiry",
    "keyworker.handlers.webhooks",
)
BUILD_MANIFEST = "keyworker_build.json"
# Fixed zip timestamps (the earliest a zip can hold) so an unchanged build gives identical bytes
# and `sam deploy` sees nothing to upload.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ArtifactError(Exception):
    """The artifacts could not be built; the message says what is wrong and what to do."""


class ToolchainMissing(ArtifactError):
    """A Rust standard library (or another tool) for the target architecture is not installed."""


class NotManylinux(ArtifactError):
    """The native module wheel is not a manylinux2014 wheel, so Lambda might not load it."""


class WrongPlatform(ArtifactError):
    """A native extension in the layer is for another machine or Python than Lambda's."""


class TooLarge(ArtifactError):
    """The layer and function code unzipped pass Lambda's 250 MB limit."""


class LayerDoesNotImport(ArtifactError):
    """A module of the layer failed to import under the target Python."""


@dataclass(frozen=True)
class Arch:
    """One Lambda architecture and what it is called by Rust, pip and ELF."""

    lambda_name: str
    rust_target: str
    machine: str
    elf_machine: int

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        return (f"manylinux2014_{self.machine}", f"manylinux_2_17_{self.machine}")


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", "x86_64-unknown-linux-gnu", "x86_64", 62),
    "arm64": Arch("arm64", "aarch64-unknown-linux-gnu", "aarch64", 183),
}


@dataclass(frozen=True)
class ZipEntry:
    name: str
    size: int
    compressed: int


@dataclass(frozen=True)
class ZipSummary:
    path: str
    entries: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str
    listing: str


@dataclass
class ArchResult:
    arch: str
    runtime: str
    wheel: str = ""
    wheel_tag: str = ""
    auditwheel_tag: str = ""
    auditwheel_output: str = ""
    layer: ZipSummary | None = None
    function: ZipSummary | None = None
    unzipped_total_bytes: int = 0
    imported_with: str = ""
    imports: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Pure parts: no processes, no network.
# ---------------------------------------------------------------------------------------------


def runtime_requirements(pyproject: Path) -> list[str]:
    """The package's runtime dependencies, exactly as ``[project].dependencies`` lists them.

    boto3 stays in although Lambda's runtime ships one: the runtime's copy is updated by AWS on
    its own schedule, and the layer must carry the version the tests ran against.
    """
    with pyproject.open("rb") as f:
        project = tomllib.load(f).get("project", {})
    requirements = project.get("dependencies")
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise ArtifactError(f"{pyproject}: [project].dependencies must be a list of strings")
    return list(requirements)


def pins_from_freeze(freeze_output: str, package: str = PACKAGE) -> list[str]:
    """Constraints (``name==version``) from ``pip freeze`` of the tested virtualenv.

    The package itself, editable installs and direct references (``name @ url``) are dropped:
    they say nothing about which released version to fetch for another platform.
    """
    pins = []
    for raw in freeze_output.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")) or " @ " in line or "==" not in line:
            continue
        name = line.split("==", 1)[0]
        if _canonical(name) == _canonical(package):
            continue
        pins.append(line)
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_install_command(
    python: str,
    target: Path,
    arch: Arch,
    runtime: tuple[int, int],
    requirements: Sequence[str],
    constraints: Path,
) -> list[str]:
    """pip asked for the target's binary wheels (runtime's CPython, manylinux2014) only."""
    command = [python, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)]
    for platform in arch.pip_platforms:
        command += ["--platform", platform]
    command += [
        "--python-version",
        "{}.{}".format(*runtime),
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--constraint",
        str(constraints),
        *requirements,
    ]
    return command


def wheel_tag(wheel_name: str) -> tuple[str, str, tuple[str, ...]]:
    """(python tag, abi tag, platform tags) of a wheel file name."""
    parts = wheel_name.removesuffix(".whl").split("-")
    if len(parts) < 5:
        raise ArtifactError(f"{wheel_name} is not a wheel file name")
    return parts[-3], parts[-2], tuple(parts[-1].split("."))


def check_wheel_name(wheel_name: str, arch: Arch) -> str:
    """The wheel's tag, if it is an abi3 manylinux2014 wheel for ``arch``."""
    python_tag, abi, platforms = wheel_tag(wheel_name)
    wanted = set(arch.pip_platforms)
    if abi != "abi3" or not python_tag.startswith("cp3") or not wanted & set(platforms):
        raise NotManylinux(
            f"{wheel_name} is not an abi3 wheel tagged {' or '.join(sorted(wanted))}"
        )
    return f"{python_tag}-{abi}-{'.'.join(platforms)}"


def parse_auditwheel(output: str, arch: Arch) -> str:
    """The platform tag ``auditwheel show`` says the wheel is consistent with.

    Raises NotManylinux unless it is a manylinux tag for ``arch`` no newer than glibc 2.17.
    """
    flat = " ".join(output.split())
    match = re.search(r'is consistent with the following platform tag: "([^"]+)"', flat)
    if match is None:
        raise NotManylinux(f"auditwheel show gave no platform tag:\n{output}")
    tag = match.group(1)
    glibc = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{arch.machine}", tag)
    if glibc is None:
        raise NotManylinux(f"auditwheel says the wheel is {tag}, not manylinux:\n{output}")
    if (int(glibc.group(1)), int(glibc.group(2))) > MANYLINUX2014_GLIBC:
        raise NotManylinux(f"auditwheel says the wheel needs {tag}, newer than manylinux2014")
    return tag


def target_std_installed(sysroot: Path, rust_target: str) -> bool:
    """Whether the Rust standard library for ``rust_target`` is in the toolchain's sysroot."""
    return any((sysroot / "lib" / "rustlib" / rust_target / "lib").glob("libstd-*.rlib"))


def missing_std_message(rust_target: str, sysroot: Path, rustc: str, why: str) -> str:
    return (
        f"the Rust standard library for {rust_target} is not installed ({rustc}; looked in "
        f"{sysroot}/lib/rustlib/{rust_target}/lib) and `rustup target add {rust_target}` did "
        f"not bring it: {why.strip() or 'no reason given'}. To build this architecture it "
        f"needs the rust-std component for {rust_target} of exactly this rustc (rustup from "
        f"the Rust distribution server, or an offline copy unpacked into that directory); zig "
        f"(ziglang from PyPI) links it and pip fetches the dependencies' wheels from PyPI."
    )


def elf_machine(header: bytes) -> int | None:
    """The ELF e_machine of a little-endian 64-bit ELF header, None if it is not one."""
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    return int.from_bytes(header[18:20], "little")


def native_extension_problems(
    layer_python: Path, arch: Arch, runtime: tuple[int, int]
) -> list[str]:
    """Native extensions that Lambda's ``runtime`` on ``arch`` could not load, one per line."""
    cpython_tag = "cpython-{}{}-{}-linux-gnu".format(*runtime, arch.machine)
    problems = []
    for path in sorted(layer_python.rglob("*.so*")):
        relative = path.relative_to(layer_python)
        with path.open("rb") as f:
            machine = elf_machine(f.read(20))
        if machine != arch.elf_machine:
            problems.append(f"{relative}: ELF machine {machine}, want {arch.elf_machine}")
        name = path.name
        is_extension = name.endswith(".so") and name.count(".") >= 2
        if is_extension and not (name.endswith(".abi3.so") or f".{cpython_tag}." in name):
            problems.append(f"{relative}: built for another Python than {cpython_tag}")
    return problems


def top_level_modules(layer_python: Path) -> list[str]:
    """Import names at the top of the layer: what an import check must be able to load."""
    names = set()
    for path in layer_python.iterdir():
        if path.name.endswith((".dist-info", "-stubs")) or path.name in {"bin", "__pycache__"}:
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(path.name)
        elif path.suffix in {".py", ".so"}:
            names.add(path.name.split(".", 1)[0])
    return sorted(names)


def files_under(directory: Path) -> list[Path]:
    """Every file under ``directory``, in a stable order (what goes in a zip)."""
    return sorted(
        (p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts),
        key=lambda p: p.relative_to(directory).as_posix(),
    )


def write_zip(source: Path, destination: Path, prefix: str = "") -> list[ZipEntry]:
    """Zip ``source`` deterministically: sorted names, fixed times, only 0644/0755 modes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files_under(source):
            name = prefix + path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so Lambda keeps the modes below.
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            archive.writestr(info, path.read_bytes())
        entries = [ZipEntry(i.filename, i.file_size, i.compress_size) for i in archive.infolist()]
    return entries


def format_listing(zip_name: str, entries: Sequence[ZipEntry], zipped_bytes: int) -> str:
    """The full listing of a zip: one line per file with its size and compressed size."""
    unzipped = sum(e.size for e in entries)
    lines = [
        f"# {zip_name}: {len(entries)} files, {unzipped:,} bytes unzipped, "
        f"{zipped_bytes:,} bytes zipped",
        f"# {'bytes':>12} {'compressed':>12}  name",
    ]
    lines += [f"{e.size:>14} {e.compressed:>12}  {e.name}" for e in entries]
    return "\n".join(lines) + "\n"


def summarize_by_top_level(entries: Iterable[ZipEntry], depth: int) -> list[tuple[str, int, int]]:
    """(folder, files, unzipped bytes) per top-level folder, biggest first: the printed view."""
    totals: dict[str, list[int]] = {}
    for entry in entries:
        parts = entry.name.split("/")
        key = "/".join(parts[:depth]) if len(parts) > depth else entry.name
        total = totals.setdefault(key, [0, 0])
        total[0] += 1
        total[1] += entry.size
    return sorted(((k, v[0], v[1]) for k, v in totals.items()), key=lambda t: (-t[2], t[0]))


def template_runtime(template_text: str | None) -> tuple[int, int]:
    """The Python version of the template's functions (``Runtime: python3.X``).

    The template is the one place the runtime is chosen; building the layer for any other
    Python would deploy native wheels the functions cannot load. Without a template, or one
    that names no Python runtime, it is python3.12.
    """
    pattern = r"""^\s*Runtime:\s*["']?python(\d+)\.(\d+)["']?\s*(?:#.*)?$"""
    found = {(int(m[0]), int(m[1])) for m in re.findall(pattern, template_text or "", re.M)}
    if len(found) > 1:
        named = ", ".join("python{}.{}".format(*v) for v in sorted(found))
        raise ArtifactError(
            f"the template's functions use several Python runtimes ({named}); "
            "one layer can serve only one"
        )
    return found.pop() if found else DEFAULT_LAMBDA_PYTHON


def check_unzipped_limit(total_bytes: int, limit: int = LAMBDA_UNZIPPED_LIMIT) -> None:
    if total_bytes > limit:
        raise TooLarge(
            f"layer and function code unzipped are {total_bytes:,} bytes, over Lambda's "
            f"{limit:,}-byte limit"
        )


def deterministic_sbom(sbom: Mapping[str, object], epoch: int) -> dict[str, object]:
    """maturin's CycloneDX SBOM with its random serial number and build time made repeatable.

    The serial number becomes a UUID derived from the rest of the document and the timestamp
    the given epoch (the commit's time), so the same source gives the same layer bytes and
    `sam deploy` publishes no new layer version for an unchanged build.
    """
    fixed: dict[str, object] = dict(sbom)
    metadata = fixed.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        metadata["timestamp"] = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fixed["metadata"] = metadata
    fixed.pop("serialNumber", None)
    content = json.dumps(fixed, sort_keys=True).encode()
    fixed["serialNumber"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, content.hex())}"
    return fixed


def record_line(name: str, content: bytes) -> str:
    """A wheel RECORD line (name, urlsafe unpadded sha256, size) for ``content``."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(content)}"


def build_manifest(
    arch: Arch,
    runtime: tuple[int, int],
    wheel: str,
    layer_sha256: str,
    commit: str,
    handlers: Mapping[str, bool],
) -> dict[str, object]:
    """What the function code zip records: which layer build and handlers it was made for."""
    return {
        "package": PACKAGE,
        "architecture": arch.lambda_name,
        "runtime": "python{}.{}".format(*runtime),
        "wheel": wheel,
        "layer_sha256": layer_sha256,
        "git_commit": commit,
        "handlers": {f"{m}.handler": present for m, present in handlers.items()},
    }


# ---------------------------------------------------------------------------------------------
# Steps: processes, files, network (PyPI).
# ---------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """A tool of the virtualenv this script runs in (maturin, auditwheel), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ToolchainMissing(f"{name} is not installed: run `make setup` (dev extras)")
    return found


def _run(
    command: Sequence[str],
    *,
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a step, echoing it; a failure becomes an ArtifactError with the tail of stderr."""
    print("+ " + " ".join(command), flush=True)
    result = subprocess.run(
        command, cwd=cwd, env=env, check=False, text=True, capture_output=capture
    )
    if result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:]
        raise ArtifactError(f"`{' '.join(command)}` exited {result.returncode}\n{detail}")
    return result


def _tool_env() -> dict[str, str]:
    # maturin finds zig as `python -m ziglang`: the virtualenv's python must come first.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def ensure_rust_target(arch: Arch) -> None:
    """The Rust std for the target is installed, or rustup adds it, or a precise error says not."""
    sysroot = Path(
        subprocess.run(
            ["rustc", "--print", "sysroot"], cwd=ROOT, check=True, text=True, capture_output=True
        ).stdout.strip()
    )
    if target_std_installed(sysroot, arch.rust_target):
        return
    rustc = subprocess.run(
        ["rustc", "--version"], cwd=ROOT, check=True, text=True, capture_output=True
    ).stdout.strip()
    try:
        added = subprocess.run(
            ["rustup", "target", "add", arch.rust_target],
            cwd=ROOT,
            check=False,
            text=True,
            capture_output=True,
            timeout=600,
        )
        why = added.stderr
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        why = str(error)
    if not target_std_installed(sysroot, arch.rust_target):
        raise ToolchainMissing(missing_std_message(arch.rust_target, sysroot, rustc, why))


def build_wheel(arch: Arch, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    env = _tool_env()
    # Its own target dir: zig as the linker and another target triple would otherwise make
    # cargo rebuild the dev module (`make setup`) after every artifact build and back.
    env["CARGO_TARGET_DIR"] = str(ROOT / "target" / "lambda")
    _run(
        [
            _tool("maturin"),
            "build",
            "--release",
            "--zig",
            "--target",
            arch.rust_target,
            "--compatibility",
            "manylinux2014",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
    )
    wheels = sorted(out.glob(f"{PACKAGE}-*.whl"))
    if len(wheels) != 1:
        raise ArtifactError(f"expected one wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def audit_wheel(wheel: Path, arch: Arch) -> tuple[str, str]:
    result = _run([_tool("auditwheel"), "show", str(wheel)], capture=True)
    output = result.stdout.strip()
    print(output, flush=True)
    return parse_auditwheel(output, arch), output


def install_layer(
    wheel: Path, arch: Arch, runtime: tuple[int, int], layer_python: Path, work: Path
) -> None:
    if layer_python.exists():
        shutil.rmtree(layer_python)
    freeze = _run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture=True
    ).stdout
    constraints = work / "constraints.txt"
    constraints.write_text("\n".join(pins_from_freeze(freeze)) + "\n")
    requirements = runtime_requirements(ROOT / "pyproject.toml")
    _run(
        pip_install_command(sys.executable, layer_python, arch, runtime, requirements, constraints)
    )
    # Console scripts carry this machine's interpreter path and are of no use in a layer.
    shutil.rmtree(layer_python / "bin", ignore_errors=True)
    unpack_wheel(wheel, layer_python, _source_date_epoch())
    problems = native_extension_problems(layer_python, arch, runtime)
    if problems:
        raise WrongPlatform("native extensions Lambda could not load:\n" + "\n".join(problems))


def is_development_only(path: str) -> bool:
    """Whether a path of the wheel is development code that the layer leaves out."""
    return path.startswith(DEVELOPMENT_ONLY)


def unpack_wheel(wheel: Path, layer_python: Path, epoch: int) -> None:
    """Install our own wheel into the layer by unpacking it, with a repeatable SBOM.

    A maturin wheel with no scripts or data maps one to one onto site-packages, and unpacking
    it (rather than pip) leaves out pip's direct_url.json, which records this machine's path.
    """
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(
            layer_python,
            members=[n for n in archive.namelist() if not is_development_only(n)],
        )
    for record in layer_python.glob(f"{PACKAGE}-*.dist-info/RECORD"):
        dist_info = record.parent
        lines = [
            line
            for line in record.read_text().splitlines()
            if not is_development_only(line.split(",", 1)[0])
        ]
        for sbom_path in sorted(dist_info.glob("sboms/*.json")):
            content = json.dumps(
                deterministic_sbom(json.loads(sbom_path.read_text()), epoch), indent=2
            ).encode()
            sbom_path.write_bytes(content)
            name = sbom_path.relative_to(layer_python).as_posix()
            lines = [
                record_line(name, content) if line.startswith(name + ",") else line
                for line in lines
            ]
        record.write_text("\n".join(lines) + "\n")


def _source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH if set, else the time of the checked-out commit (reproducible builds)."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=ROOT, text=True, capture_output=True, check=False
    ).stdout.strip()
    return int(committed) if committed.isdigit() else 0


def find_lambda_python(arch: Arch, runtime: tuple[int, int]) -> str | None:
    """A CPython of the runtime's version on this machine that can run the layer, if any."""
    if os.uname().machine != arch.machine:
        return None
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    version = "{}.{}".format(*runtime)
    candidates = [os.environ.get("KEYWORKER_LAMBDA_PYTHON", "")]
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python3"))]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                check=False,
                text=True,
                capture_output=True,
            )
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


# The check runs in a fresh interpreter without site-packages (-S) and only the layer on its
# path, as Lambda puts /opt/python on PYTHONPATH: an import can only succeed from the layer.
_IMPORT_CHECK = """
import importlib, json, sys
layer, names = sys.argv[1], sys.argv[2:]
results = {}
for name in names:
    try:
        module = importlib.import_module(name)
        where = getattr(module, "__file__", "") or ""
        results[name] = "ok" if where.startswith(layer) else "outside layer: " + where
    except ModuleNotFoundError as error:
        results[name] = "missing module: " + str(error.name)
    except ImportError as error:
        results[name] = "cannot import: " + str(error)
    except Exception as error:
        results[name] = "raised at import: %s: %s" % (type(error).__name__, error)
print(json.dumps(results))
"""


def check_imports(python: str, layer_python: Path, modules: Sequence[str]) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(layer_python),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Handler modules are composition roots; a region lets boto3 clients be made offline.
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    result = _run(
        [python, "-S", "-c", _IMPORT_CHECK, str(layer_python), *modules],
        capture=True,
        env=env,
        cwd="/",
    )
    imports: dict[str, str] = json.loads(result.stdout)
    return imports


def import_failures(imports: Mapping[str, str], handlers: Iterable[str]) -> list[str]:
    """Failures that are the artifact's fault.

    A library that does not import, or a handler that misses a module or cannot load one,
    means the layer is wrong; a handler that raises anything else at import only lacks the
    environment its function gets from the template (table name, keys), which this check
    cannot know, and is reported without failing the build.
    """
    handler_set = set(handlers)
    failures = []
    for name, outcome in imports.items():
        if outcome == "ok":
            continue
        if name in handler_set and outcome.startswith("raised at import"):
            continue
        failures.append(f"{name}: {outcome}")
    return failures


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git_commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, text=True, capture_output=True, check=False
    )
    if head.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, text=True, capture_output=True, check=False
    ).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def package_zip(source: Path, destination: Path, prefix: str, depth: int) -> ZipSummary:
    entries = write_zip(source, destination, prefix)
    zipped = destination.stat().st_size
    listing = destination.with_suffix(".txt")
    listing.write_text(format_listing(destination.name, entries, zipped))
    unzipped = sum(e.size for e in entries)
    print(
        f"\n{destination.name}: {len(entries)} files, {unzipped:,} bytes unzipped, "
        f"{zipped:,} bytes zipped (full listing: {listing})"
    )
    for name, count, size in summarize_by_top_level(entries, depth)[:25]:
        print(f"  {size:>12,}  {count:>5} files  {name}")
    return ZipSummary(
        str(destination), len(entries), unzipped, zipped, _sha256(destination), str(listing)
    )


def build_arch(arch: Arch, runtime: tuple[int, int], out: Path) -> ArchResult:
    result = ArchResult(arch.lambda_name, "python{}.{}".format(*runtime))
    work = out / arch.lambda_name
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    ensure_rust_target(arch)
    wheel = build_wheel(arch, work / "wheel")
    result.wheel = wheel.name
    result.wheel_tag = check_wheel_name(wheel.name, arch)
    result.auditwheel_tag, result.auditwheel_output = audit_wheel(wheel, arch)
    result.seconds["wheel"] = time.perf_counter() - started

    started = time.perf_counter()
    layer_python = work / "layer" / "python"
    install_layer(wheel, arch, runtime, layer_python, work)
    result.seconds["dependencies"] = time.perf_counter() - started

    started = time.perf_counter()
    handlers = {m: (layer_python / (m.replace(".", "/") + ".py")).exists() for m in HANDLER_MODULES}
    python = find_lambda_python(arch, runtime)
    if python is not None:
        present = [m for m, exists in handlers.items() if exists]
        result.imported_with = python
        result.imports = check_imports(python, layer_python, top_level_modules(layer_python))
        result.imports |= check_imports(python, layer_python, [f"{PACKAGE}._core", *present])
        failures = import_failures(result.imports, present)
        if failures:
            raise LayerDoesNotImport("the layer does not import:\n" + "\n".join(failures))
    result.seconds["import_check"] = time.perf_counter() - started

    started = time.perf_counter()
    result.layer = package_zip(
        work / "layer", out / f"{PACKAGE}-layer-{arch.lambda_name}.zip", "", depth=2
    )
    function_dir = work / "function"
    shutil.rmtree(function_dir, ignore_errors=True)
    function_dir.mkdir()
    manifest = build_manifest(
        arch, runtime, wheel.name, result.layer.sha256, _git_commit(), handlers
    )
    (function_dir / BUILD_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    result.function = package_zip(
        function_dir, out / f"{PACKAGE}-function-{arch.lambda_name}.zip", "", depth=1
    )
    result.unzipped_total_bytes = result.layer.unzipped_bytes + result.function.unzipped_bytes
    check_unzipped_limit(result.unzipped_total_bytes)
    result.seconds["zips"] = time.perf_counter() - started
    missing = [m for m, exists in handlers.items() if not exists]
    if missing:
        print(f"note: handler modules not in the package yet: {', '.join(missing)}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--arch",
        action="append",
        choices=sorted(ARCHES),
        help="build only these (repeatable); default: x86_64, and arm64 if the toolchain allows",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output directory")
    args = parser.parse_args(argv)
    required = set(args.arch or ["x86_64"])
    wanted = [a for a in ARCHES if a in (args.arch or ARCHES)]

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[ArchResult] = []
    not_built: dict[str, str] = {}
    try:
        runtime = template_runtime(TEMPLATE.read_text() if TEMPLATE.exists() else None)
        print(
            "target runtime: python{}.{} (infra/template.yaml, else the default)".format(*runtime)
        )
        for name in wanted:
            print(f"\n=== {name} ===", flush=True)
            try:
                results.append(build_arch(ARCHES[name], runtime, out))
            except ToolchainMissing as error:
                if name in required:
                    raise
                not_built[name] = str(error)
                print(f"NOT BUILT {name}: {error}", flush=True)
    except ArtifactError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    summary = {
        "seconds": round(time.perf_counter() - started, 1),
        "built": [asdict(r) for r in results],
        "not_built": not_built,
    }
    (out / "artifacts.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nbuilt in {summary['seconds']} s; summary in {out / 'artifacts.json'}")
    for r in results:
        layer_zipped = r.layer.zipped_bytes if r.layer else 0
        print(
            f"  {r.arch} for {r.runtime}: {r.wheel_tag} (auditwheel: {r.auditwheel_tag}); layer "
            f"{layer_zipped:,} B zipped; unzipped total {r.unzipped_total_bytes:,} B "
            f"of {LAMBDA_UNZIPPED_LIMIT:,}; imports checked with {r.imported_with or 'nothing'}"
        )
    for name, why in not_built.items():
        print(f"  {name}: NOT BUILT: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

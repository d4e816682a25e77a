"""Images of guest programs: built from a directory with a `vmfile.toml`, kept in an ImageStore,
saved to and loaded from tar files. See docs/images.md for the manifest and config formats.

    # vmfile.toml
    program = "wc.asm"          # assembled at build time (or an assembled .vmi)
    entry = "main"              # optional: the label to start at (default: the program's own entry)
    mode = "os"                 # hw, para, auto or os (default: hw)
    memory = "1M"               # guest memory (default: 1M)
    fuel = 10000000             # optional: the instruction budget
    extensions = ["bitops.py"]  # optional: instruction-set extensions, files beside the vmfile
    stdin = "input.txt"         # optional: the guest's standard input
    args = ["-n", "3"]          # a static RISC-V executable's arguments (its program is the ELF file)
    [limits]                    # optional: the cage's limits (see `vm run --help`)
    cpu = 5
    memory = "256M"
    output = "1M"
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vm.arch.vm64 import core_isa
from vm.arch.vm64.asm.assembler import AssemblyError, assemble
from vm.arch.vm64.image import Image, ImageError
from vm.containers.errors import ContainerError
from vm.containers.store import (
    MANIFEST_TYPE,
    REF_ANNOTATION,
    ImageStore,
    Reference,
    StoreError,
    blob_digests,
    check_digest,
    digest_of,
)
from vm.elf import ElfError, is_executable, read_executable
from vm.isa import MAX_FUEL, IsaError
from vm.machine import DEFAULT_MEMORY, MAX_MEMORY, MIN_MEMORY, PAGE
from vm.monitor.cage import MAX_CPU_SECONDS, MAX_LIMIT_BYTES, Limits

VMFILE = "vmfile.toml"
CONFIG_TYPE = "application/vnd.vm.config.v1+json"
PROGRAM_TYPE = "application/vnd.vm.program.v1"  # a .vmi image (docs/image-format.md)
EXECUTABLE_TYPE = "application/vnd.vm.elf.riscv64"  # a static RISC-V Linux executable, run in hw
EXTENSION_TYPE = "application/vnd.vm.extension.v1+python"
INPUT_TYPE = "application/vnd.vm.input.v1"
TITLE = "org.opencontainers.image.title"
MODES = ("hw", "para", "auto", "os")
_KEYS = {"program", "entry", "mode", "memory", "fuel", "extensions", "stdin", "limits", "args"}
_LIMIT_KEYS = {"cpu", "memory", "output"}


class BuildError(ContainerError):
    """A vmfile or program that cannot be built; the message names the file and what is wrong."""


@dataclass
class RunConfig:
    """How an image runs: the config blob's content."""

    mode: str = "hw"
    memory: int = DEFAULT_MEMORY  # a RISC-V executable's: what it may map in all
    fuel: int | None = None
    limits: Limits = Limits()
    args: tuple[str, ...] | None = None  # a RISC-V executable's argv[1:]; None for a vm64 program

    def to_json(self) -> dict:
        value = {"mode": self.mode, "memory": self.memory, "fuel": self.fuel,
                 "limits": {"cpu_seconds": self.limits.cpu_seconds, "memory_bytes": self.limits.memory_bytes,
                            "output_bytes": self.limits.output_bytes}}
        return value if self.args is None else {**value, "args": list(self.args)}

    @classmethod
    def from_json(cls, value: dict) -> RunConfig:
        try:
            limits = value.get("limits") or {}
            args = value.get("args")
            if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
                raise ValueError(f"args must be a list of strings, not {args!r}")
            config = cls(str(value["mode"]), int(value["memory"]), value.get("fuel"),
                         Limits(limits.get("cpu_seconds"), limits.get("memory_bytes"), limits.get("output_bytes")),
                         tuple(args) if args is not None else None)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StoreError(f"the image's config is malformed: {e}") from None
        if config.mode not in MODES:
            raise StoreError(f"the image's config names an unknown mode {config.mode!r}")
        return config


@dataclass
class StoredImage:
    """An image as the store holds it, every blob checked: what it takes to run it."""

    digest: str  # the manifest's
    manifest: dict
    config: dict
    run: RunConfig
    program: bytes  # the .vmi, or a RISC-V executable (EXECUTABLE_TYPE)
    extensions: dict[str, bytes]  # file name -> source
    stdin: bytes | None
    program_type: str = PROGRAM_TYPE

    @property
    def size(self) -> int:
        return sum(layer["size"] for layer in self.manifest["layers"]) + self.manifest["config"]["size"]

    @property
    def is_executable(self) -> bool:
        """Is the program a RISC-V executable (as opposed to a vm64 image)?"""
        return self.program_type == EXECUTABLE_TYPE

    def write_executable(self, workdir: Path) -> Path:
        """The RISC-V executable, written into `workdir` under its name in the image."""
        name = Path(self.config.get("source") or "program").name
        path = workdir / name
        path.write_bytes(self.program)
        return path

    def load(self, workdir: Path):
        """The runnable Image and its instruction set; extension files are written into `workdir`."""
        from vm.extensions import load_extensions

        files = []
        for name, source in self.extensions.items():
            path = workdir / name
            path.write_bytes(source)
            files.append(str(path))
        try:
            isa = load_extensions(core_isa(), files)
            return Image.from_bytes(self.program, self.config.get("source", "image")), isa
        except (IsaError, ImageError) as e:
            raise StoreError(f"image {self.digest[:19]}: {e}") from None


def read_image(store: ImageStore, reference: str) -> StoredImage:
    """The image a reference names, with every blob read and checked against its digest."""
    digest = store.resolve(reference)
    manifest = store.json_blob(digest)
    blob_digests(manifest)
    _check_size(store, manifest["config"], digest)
    config = store.json_blob(manifest["config"]["digest"])
    program, program_type, extensions, stdin = None, PROGRAM_TYPE, {}, None
    for layer in manifest.get("layers", []):
        data = _check_size(store, layer, digest)
        kind, title = layer.get("mediaType"), layer.get("annotations", {}).get(TITLE, "")
        if kind in (PROGRAM_TYPE, EXECUTABLE_TYPE):
            program, program_type = data, kind
        elif kind == EXTENSION_TYPE:
            if not title or "/" in title or title.startswith("."):
                raise StoreError(f"image {digest[:19]}: an extension layer has no usable file name")
            extensions[title] = data
        elif kind == INPUT_TYPE:
            stdin = data
        else:
            raise StoreError(f"image {digest[:19]}: a layer of unknown type {kind!r}")
    if program is None:
        raise StoreError(f"image {digest[:19]} has no program layer")
    run = RunConfig.from_json(config)
    if (program_type == EXECUTABLE_TYPE) != (run.args is not None):
        raise StoreError(f"image {digest[:19]}: its config's args go with a RISC-V executable, and only with one")
    return StoredImage(digest, manifest, config, run, program, extensions, stdin, program_type)


def _check_size(store: ImageStore, descriptor: dict, manifest_digest: str) -> bytes:
    """A descriptor's blob, which must be as long as the descriptor says (OCI descriptors carry both)."""
    data = store.blob(descriptor["digest"])
    if descriptor.get("size") != len(data):
        raise StoreError(f"image {manifest_digest[:19]}: blob {descriptor['digest'][:19]} is {len(data)} bytes, "
                         f"its descriptor says {descriptor.get('size')!r}")
    return data


# -- building ---------------------------------------------------------------------------------------
def build_image(directory: Path, reference: str, store: ImageStore) -> str:
    """Build the image a directory's vmfile describes, store it under `reference`; its digest."""
    ref = Reference.parse(reference)
    if ref.digest:
        raise BuildError(f"{reference}: name the image NAME:TAG; its digest is computed, not given")
    directory = Path(directory)
    vmfile = directory / VMFILE
    try:
        spec = tomllib.loads(vmfile.read_text())
    except FileNotFoundError:
        raise BuildError(f"{vmfile}: no such file (an image directory holds a {VMFILE})") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BuildError(f"{vmfile}: {e}") from None
    unknown = set(spec) - _KEYS
    if unknown:
        raise BuildError(f"{vmfile}: unknown key {sorted(unknown)[0]!r}; expected {', '.join(sorted(_KEYS))}")
    if "program" not in spec:
        raise BuildError(f"{vmfile}: `program = \"FILE\"` is missing")
    if is_executable(_beside(directory, spec["program"], vmfile, "program")):
        run = _executable_config(spec, vmfile)
        extension_files = []
        program, source_name = _executable(directory, spec, vmfile), str(spec["program"])
        program_type = EXECUTABLE_TYPE
    else:
        if "args" in spec:
            raise BuildError(f"{vmfile}: args are for a Linux executable; {spec['program']} is a vm64 program")
        run = _run_config(spec, vmfile)
        extension_files = [_beside(directory, name, vmfile, "extension")
                           for name in _strings(spec, "extensions", vmfile)]
        program, source_name = _program(directory, spec, vmfile, [str(p) for p in extension_files])
        program_type = PROGRAM_TYPE
    stdin = _beside(directory, spec["stdin"], vmfile, "stdin") if "stdin" in spec else None
    layers = [_layer(store, program, program_type, source_name)]  # every file is checked: now store them
    layers += [_layer(store, path.read_bytes(), EXTENSION_TYPE, path.name) for path in extension_files]
    if stdin is not None:
        layers.append(_layer(store, stdin.read_bytes(), INPUT_TYPE, str(spec["stdin"])))
    config = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source": source_name,
              **run.to_json()}
    config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                "config": {"mediaType": CONFIG_TYPE, "digest": store.put_blob(config_bytes),
                           "size": len(config_bytes)},
                "layers": layers}
    digest = store.put_blob(json.dumps(manifest, indent=2, sort_keys=True).encode())
    store.tag(digest, ref)
    return digest


def _layer(store: ImageStore, data: bytes, media_type: str, title: str) -> dict:
    return {"mediaType": media_type, "digest": store.put_blob(data), "size": len(data),
            "annotations": {TITLE: title}}


def _beside(directory: Path, name, vmfile: Path, what: str) -> Path:
    """A file the vmfile names, which must lie in the image's directory."""
    if not isinstance(name, str) or not name:
        raise BuildError(f"{vmfile}: {what} must be a file name in quotes")
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise BuildError(f"{vmfile}: {what} {name!r} is outside the image's directory")
    if not path.is_file():
        raise BuildError(f"{vmfile}: {what} {name!r}: no such file in {directory}")
    return path


def _strings(spec: dict, key: str, vmfile: Path) -> list[str]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildError(f"{vmfile}: {key} must be a list of file names, as {key} = [\"a.py\"]")
    return value


def _size(value, vmfile: Path, key: str) -> int:
    """A size as an integer of bytes or a string such as "256K", "1M", "2G"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(value[-1:].upper(), 1)
        digits = value[:-1] if scale > 1 else value
        if digits.isdigit():
            return int(digits) * scale
    raise BuildError(f"{vmfile}: {key} must be a size such as 65536 or \"1M\", not {value!r}")


def _run_config(spec: dict, vmfile: Path, default_memory: int = DEFAULT_MEMORY) -> RunConfig:
    mode = spec.get("mode", "hw")
    if mode not in MODES:
        raise BuildError(f"{vmfile}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    memory = _size(spec.get("memory", default_memory), vmfile, "memory")
    if not MIN_MEMORY <= memory <= MAX_MEMORY or memory % PAGE:
        raise BuildError(f"{vmfile}: memory must be a multiple of {PAGE} from 64K to 4G, not {memory}")
    fuel = spec.get("fuel")
    if fuel is not None and (not isinstance(fuel, int) or isinstance(fuel, bool) or not 0 <= fuel <= MAX_FUEL):
        raise BuildError(f"{vmfile}: fuel must be a whole number from 0 to 2^63 - 1")
    limits = spec.get("limits", {})
    if not isinstance(limits, dict) or set(limits) - _LIMIT_KEYS:
        raise BuildError(f"{vmfile}: [limits] takes {', '.join(sorted(_LIMIT_KEYS))}")
    cpu = limits.get("cpu")
    if cpu is not None and (not isinstance(cpu, int) or isinstance(cpu, bool) or not 1 <= cpu <= MAX_CPU_SECONDS):
        raise BuildError(f"{vmfile}: limits.cpu must be a whole number of seconds from 1 to {MAX_CPU_SECONDS}")
    sizes = {k: _size(limits[k], vmfile, f"limits.{k}") for k in ("memory", "output") if k in limits}
    if any(not 1 <= v <= MAX_LIMIT_BYTES for v in sizes.values()):
        raise BuildError(f"{vmfile}: limits must be from 1 byte to {MAX_LIMIT_BYTES} bytes (2^63 - 1)")
    return RunConfig(mode, memory, fuel, Limits(cpu, sizes.get("memory"), sizes.get("output")))


def _executable_config(spec: dict, vmfile: Path) -> RunConfig:
    """A RISC-V executable's run: hw (or auto, which runs it in hw), its arguments, what it may map."""
    from vm.run_linux import DEFAULT_LINUX_MEMORY, refusal_reason

    for key in ("entry", "extensions"):
        if key in spec:
            raise BuildError(f"{vmfile}: {key} is for a vm64 program; {spec['program']} is a RISC-V executable")
    run = _run_config(spec, vmfile, DEFAULT_LINUX_MEMORY)
    if run.mode in ("para", "os"):
        raise BuildError(f"{vmfile}: mode {run.mode}: {refusal_reason(run.mode, Path(spec['program']).name)}")
    args = spec.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise BuildError(f"{vmfile}: args must be a list of strings (without NUL), as args = [\"-n\", \"3\"]")
    return RunConfig(run.mode, run.memory, run.fuel, run.limits, tuple(args))


def _executable(directory: Path, spec: dict, vmfile: Path) -> bytes:
    """A static RISC-V executable's bytes, checked as `vm run` checks it, and that it fits its memory."""
    from vm.run_linux import DEFAULT_LINUX_MEMORY, load_process

    path = _beside(directory, spec["program"], vmfile, "program")
    memory = _size(spec.get("memory", DEFAULT_LINUX_MEMORY), vmfile, "memory")
    try:
        load_process(read_executable(path), spec.get("args", []), [], memory, None)
    except ElfError as e:
        raise BuildError(str(e)) from None
    except ValueError as e:  # arguments past Linux's limit
        raise BuildError(f"{vmfile}: args: {e}") from None
    return path.read_bytes()


def _program(directory: Path, spec: dict, vmfile: Path, extension_files: list[str]) -> tuple[bytes, str]:
    """The program as .vmi bytes (assembled here if it is source), with its entry set."""
    from vm.extensions import load_extensions

    path = _beside(directory, spec["program"], vmfile, "program")
    try:
        isa = load_extensions(core_isa(), extension_files)
        if path.suffix == ".vmi":
            image = Image.from_bytes(path.read_bytes(), spec["program"])
        else:
            image = assemble(path.read_text(), spec["program"], isa)
    except (IsaError, ImageError, UnicodeDecodeError) as e:
        raise BuildError(f"{path}: {e}") from None
    except AssemblyError as e:
        raise BuildError(str(e)) from None
    entry = spec.get("entry")
    if entry is not None:
        if not isinstance(entry, str) or entry not in image.symbols:
            raise BuildError(f"{vmfile}: entry {entry!r} is not a label of {spec['program']}")
        image.entry = image.symbols[entry]
    return image.to_bytes(), str(spec["program"])


# -- tar files --------------------------------------------------------------------------------------
def save_images(store: ImageStore, references: list[str], out: io.BufferedIOBase) -> None:
    """Write the images as one OCI layout in a tar file: oci-layout, index.json and their blobs."""
    entries, blobs = [], {}
    named = store.references()
    for text in references:
        image = read_image(store, text)
        ref = next((r for r in _spellings(text) if named.get(r) == image.digest), None)
        annotations = {REF_ANNOTATION: ref} if ref else {}
        entries.append({"mediaType": MANIFEST_TYPE, "digest": image.digest,
                        "size": len(store.blob(image.digest)), "annotations": annotations})
        for digest in [image.digest, *blob_digests(image.manifest)]:
            blobs[digest] = store.blob(digest)
    index = {"schemaVersion": 2, "manifests": entries}
    with tarfile.open(fileobj=out, mode="w") as tar:
        members = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}\n',
                   "index.json": json.dumps(index, indent=2).encode()}
        members.update({f"blobs/sha256/{d.removeprefix('sha256:')}": data for d, data in sorted(blobs.items())})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))


def _spellings(text: str) -> list[str]:
    """The NAME:TAG a command-line reference stands for, if it is one (not a digest or a prefix)."""
    try:
        ref = Reference.parse(text)
    except StoreError:
        return []
    return [str(ref)] if not ref.digest else []


def load_images(store: ImageStore, source: Path | io.BufferedIOBase) -> list[str]:
    """Add the images of a tar file made by `save_images`; every blob is checked before anything is
    stored, so a damaged file adds nothing. Returns the references it tagged. `source` is the file's
    path, or the file itself (standard input)."""
    tar_path = source if isinstance(source, Path) else "standard input"
    try:
        with tarfile.open(source) if isinstance(source, Path) else tarfile.open(fileobj=source, mode="r:") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except FileNotFoundError:
        raise StoreError(f"cannot read {tar_path}: no such file") from None
    except (OSError, tarfile.TarError) as e:
        detail = "" if "\n" in str(e) else f": {e}"  # tarfile's "could not be opened" lists every method it tried
        raise StoreError(f"{tar_path}: not a readable tar file{detail}") from None
    try:
        entries = json.loads(members["index.json"])["manifests"]
        digests = [check_digest(entry["digest"]) for entry in entries]
        refs = [entry.get("annotations", {}).get(REF_ANNOTATION) for entry in entries]
        refs = [str(Reference.parse(ref)) if ref else None for ref in refs]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StoreError(f"{tar_path}: no OCI index.json with manifests in it") from None
    except StoreError as e:
        raise StoreError(f"{tar_path}: its index.json: {e}") from None
    blobs = {}
    for name, data in members.items():
        if name.startswith("blobs/sha256/"):
            digest = "sha256:" + name.removeprefix("blobs/sha256/")
            if digest_of(data) != digest:
                raise StoreError(f"{tar_path}: blob {digest} is damaged (its bytes do not match its digest)")
            blobs[digest] = data
    with tempfile.TemporaryDirectory() as scratch:  # check each image reads whole, in a store of its own
        staging = ImageStore(Path(scratch))
        for digest, data in blobs.items():
            staging.put_blob(data, digest)
        for digest in digests:
            try:
                read_image(staging, digest)
            except StoreError as e:
                raise StoreError(f"{tar_path}: {e}; nothing was loaded") from None
    for digest, data in blobs.items():
        store.put_blob(data, digest)
    for digest, ref in zip(digests, refs, strict=True):
        if ref:
            store.tag(digest, ref)
    return [ref or digest for digest, ref in zip(digests, refs, strict=True)]

"""The image store: content-addressed blobs and named references, in the OCI image layout.

    ROOT/oci-layout              {"imageLayoutVersion": "1.0.0"}
    ROOT/index.json              the references: {"manifests": [{digest, size, mediaType, annotations:
                                 {"org.opencontainers.image.ref.name": "NAME:TAG"}}, ...]}
    ROOT/blobs/sha256/HEX        every blob under the sha256 of its bytes: manifests, configs, layers

An image is a manifest (its digest is the image's identity) naming a config blob (how to run it:
vm/containers/image.py) and layer blobs (the program, its extensions, its input). Every blob is
checked against its digest when it is read, and written under a temporary name and renamed, so a
store never holds a blob whose bytes are not its name. See docs/images.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vm.containers.errors import ContainerError

REF_ANNOTATION = "org.opencontainers.image.ref.name"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Names as the OCI distribution spec has them: lowercase components joined by / (at most 255 characters).
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


class StoreError(ContainerError):
    """A reference that names nothing, a malformed one, or a blob that is not what its digest says."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise StoreError(f"{digest!r} is not a digest (sha256: and 64 lowercase hex digits)")
    return digest


@dataclass(frozen=True)
class Reference:
    """NAME:TAG (the tag defaults to latest) or NAME@DIGEST."""

    name: str
    tag: str | None = "latest"
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        name, at, digest = text.partition("@")
        if at:
            return cls(check_name(name), None, check_digest(digest))
        name, colon, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
        return cls(check_name(name), check_tag(tag) if colon else "latest")

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise StoreError(f"{tag!r} is not a tag (letters, digits, '_', '.', '-'; at most 128)")
    return tag


def check_name(name: str) -> str:
    if not name or len(name) > 255 or not _NAME.match(name):
        raise StoreError(f"{name!r} is not an image name (lowercase letters and digits, "
                         "joined by '.', '_', '-' or '/', as in hello or tools/wc)")
    return name


def default_root() -> Path:
    """$VM_IMAGES, else ~/.local/share/vm/images."""
    configured = os.environ.get("VM_IMAGES")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "vm" / "images"


class ImageStore:
    """One OCI layout on disk. Safe to use from several processes: index updates hold a file lock."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.blobs = self.root / "blobs" / "sha256"
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
            layout = self.root / "oci-layout"
            if not layout.exists():
                write_atomically(layout, b'{"imageLayoutVersion": "1.0.0"}\n')
        except OSError as e:
            raise StoreError(f"cannot use {self.root} as an image store: {e.strerror or e}") from None

    # -- blobs ---------------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest).removeprefix("sha256:")

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_blob(self, data: bytes, expected: str | None = None) -> str:
        """Store bytes under their digest; with `expected`, bytes that do not match it are refused."""
        digest = digest_of(data)
        if expected is not None and digest != check_digest(expected):
            raise StoreError(f"content does not match its digest: expected {expected}, got {digest}")
        path = self.blob_path(digest)
        if not path.is_file():
            write_atomically(path, data)
        return digest

    def blob(self, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is not in the store {self.root}") from None
        if digest_of(data) != digest:
            raise StoreError(f"blob {digest} in {self.root} is damaged: its bytes no longer match its digest")
        return data

    def json_blob(self, digest: str) -> dict:
        try:
            value = json.loads(self.blob(digest))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"blob {digest} is not JSON: {e}") from None
        if not isinstance(value, dict):
            raise StoreError(f"blob {digest} is not a JSON object")
        return value

    # -- references ------------------------------------------------------------------------------------
    def references(self) -> dict[str, str]:
        """Every NAME:TAG in the store and the digest of its manifest."""
        return {entry["annotations"][REF_ANNOTATION]: entry["digest"] for entry in self._index()["manifests"]
                if REF_ANNOTATION in entry.get("annotations", {})}

    def resolve(self, text: str) -> str:
        """The manifest digest a reference names: NAME[:TAG], NAME@DIGEST, a digest, or a unique
        prefix of one (at least 12 hex digits, as `vm image ls` shows them)."""
        if _DIGEST.match(text) and self.has_blob(text):
            return text
        refs = self.references()
        if re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", text):
            prefix = text if text.startswith("sha256:") else "sha256:" + text
            found = {d for d in refs.values() if d.startswith(prefix)}
            if len(found) == 1:
                return found.pop()
            if len(found) > 1:
                raise StoreError(f"{text} names more than one image; give more of its digest")
        ref = Reference.parse(text)
        if ref.digest:
            if not self.has_blob(ref.digest):
                raise StoreError(f"no image {ref} in the store")
            return ref.digest
        if str(ref) not in refs:
            raise StoreError(f"no image {ref} in the store; `vm image ls` lists them, `vm pull {ref}` fetches it")
        return refs[str(ref)]

    def tag(self, digest: str, ref: Reference | str) -> None:
        """Point NAME:TAG at a manifest already in the store (moving it if it named another)."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        if ref.digest:
            raise StoreError(f"{ref}: a tag names an image, a digest cannot be tagged")
        size = self.blob_path(digest).stat().st_size if self.has_blob(digest) else None
        if size is None:
            raise StoreError(f"manifest {digest} is not in the store")
        with self._locked_index() as index:
            index["manifests"] = [e for e in index["manifests"]
                                  if e.get("annotations", {}).get(REF_ANNOTATION) != str(ref)]
            index["manifests"].append({"mediaType": MANIFEST_TYPE, "digest": digest, "size": size,
                                       "annotations": {REF_ANNOTATION: str(ref)}})

    def untag(self, ref: Reference | str) -> str:
        """Remove NAME:TAG; returns the manifest digest it named."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        with self._locked_index() as index:
            kept = [e for e in index["manifests"] if e.get("annotations", {}).get(REF_ANNOTATION) != str(ref)]
            gone = [e for e in index["manifests"] if e not in kept]
            if not gone:
                raise StoreError(f"no image {ref} in the store")
            index["manifests"] = kept
        return gone[0]["digest"]

    def collect_garbage(self) -> int:
        """Delete the blobs no reference reaches; returns how many."""
        with self._locked_index() as index:
            reachable = set()
            for entry in index["manifests"]:
                reachable.add(entry["digest"])
                with contextlib.suppress(StoreError):
                    reachable.update(blob_digests(self.json_blob(entry["digest"])))
            removed = 0
            for path in self.blobs.iterdir():
                if "sha256:" + path.name not in reachable and not path.name.startswith("."):
                    path.unlink()
                    removed += 1
        return removed

    def _index(self) -> dict:
        try:
            index = json.loads((self.root / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"{self.root / 'index.json'} is damaged: {e}") from None
        return index

    @contextlib.contextmanager
    def _locked_index(self) -> Iterator[dict]:
        """The index, read and written under an exclusive lock: one writer at a time."""
        with open(self.root / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._index()
            yield index
            write_atomically(self.root / "index.json", (json.dumps(index, indent=2) + "\n").encode())


def blob_digests(manifest: dict) -> list[str]:
    """The config's and the layers' digests a manifest names, once it is checked to be well formed."""
    check_manifest(manifest)
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def check_manifest(manifest: dict) -> None:
    """Refuse a manifest that is not an image manifest: a config and a list of layers, each a descriptor
    (mediaType, digest, size, optional annotations), as the OCI image spec has them."""
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise StoreError("the manifest is not an image manifest (a JSON object with schemaVersion 2)")
    if not isinstance(manifest.get("config"), dict):
        raise StoreError("the manifest names no config (a manifest needs a config descriptor)")
    if not isinstance(manifest.get("layers"), list):
        raise StoreError("the manifest has no list of layers")
    for where, descriptor in [("config", manifest["config"]),
                              *((f"layer {i}", d) for i, d in enumerate(manifest["layers"]))]:
        if not isinstance(descriptor, dict):
            raise StoreError(f"the manifest's {where} is not a descriptor (a JSON object)")
        size = descriptor.get("size")
        if not isinstance(descriptor.get("mediaType"), str):
            raise StoreError(f"the manifest's {where} has no mediaType")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise StoreError(f"the manifest's {where} has no size (a whole number of bytes)")
        if not isinstance(descriptor.get("annotations", {}), dict):
            raise StoreError(f"the manifest's {where} has annotations that are not a JSON object")
        try:
            check_digest(descriptor.get("digest"))
        except StoreError as e:
            raise StoreError(f"the manifest's {where}: {e}") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise

"""Images and their store, as a user meets them: `vm image build|ls|inspect|tag|rm|save|load` run as real
processes on a store of their own ($VM_IMAGES in a temporary directory).

A build assembles the program and records how it runs; a bad vmfile is one clear line and stores
nothing; every blob is named by the sha256 of its bytes, and a blob whose bytes changed is refused
wherever it is read; `rm` deletes only what no reference reaches; a saved tar loads into another
store as the same image, and a damaged tar loads nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from vm.containers.image import EXECUTABLE_TYPE, EXTENSION_TYPE, INPUT_TYPE, PROGRAM_TYPE, TITLE
from vm.containers.store import ImageStore, StoreError

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "extensions" / "bitops.py"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.vm.config.v1+json"

# Starts at `start` only if the vmfile's entry says so; counts the bits of its first input byte with
# the bitops extension's popcnt.
COUNTER = """\
main:   li   r1, 99         ; the assembled entry: exit 99
        hcall 0
start:  in   r1, 0          ; the vmfile's entry
        popcnt r2, r1
        out  1, r2
        li   r1, 0
        hcall 0
"""
SIMPLE = "main:   li r1, 7\n        out 1, r1\n        li r0, 0\n        halt\n"


def vm(store: Path, *args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = {**os.environ, "VM_IMAGES": str(store)}
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          env=env, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def ok(store: Path, *args) -> str:
    proc = vm(store, *args)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


def fails(store: Path, *args) -> str:
    """The one `vm: ...` line of a command that must fail with status 2."""
    proc = vm(store, *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert err.startswith("vm: ") and err.count("\n") == 1, err
    return err.strip()


def image_dir(path: Path, vmfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "vmfile.toml").write_text(vmfile)
    for name, content in (files or {"p.asm": SIMPLE}).items():
        if isinstance(content, bytes):
            (path / name).write_bytes(content)
        else:
            (path / name).write_text(content)
    return path


def inspect(store: Path, ref: str) -> dict:
    return json.loads(ok(store, "image", "inspect", ref))


def blob_files(store: Path) -> dict[str, bytes]:
    """Every blob in a store, by the name of its file."""
    blobs = store / "blobs" / "sha256"
    return {p.name: p.read_bytes() for p in blobs.iterdir() if not p.name.startswith(".")} if blobs.is_dir() else {}


def references(store: Path) -> list[str]:
    index = store / "index.json"
    if not index.exists():
        return []
    return [m["annotations"]["org.opencontainers.image.ref.name"] for m in json.loads(index.read_text())["manifests"]]


def blob_path(store: Path, digest: str) -> Path:
    return store / "blobs" / "sha256" / digest.removeprefix("sha256:")


def layer(info: dict, media_type: str) -> dict:
    (found,) = [d for d in info["manifest"]["layers"] if d["mediaType"] == media_type]
    return found


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A store holding counter:1, built with every vmfile key; the image directory; its inspect JSON.
    Tests that use it only read it."""
    base = tmp_path_factory.mktemp("built")
    directory = image_dir(base / "counter", """\
program = "counter.asm"
entry = "start"
mode = "os"
memory = "128K"
fuel = 100000
extensions = ["bitops.py"]
stdin = "input.txt"
[limits]
cpu = 3
memory = "64M"
output = 4096
""", {"counter.asm": COUNTER, "bitops.py": EXTENSION.read_text(), "input.txt": "A\n"})
    out = ok(base / "store", "image", "build", directory, "-t", "counter:1")
    info = inspect(base / "store", "counter:1")
    assert out == f"built counter:1 {info['digest']}\n"
    return base / "store", directory, info


# -- building ------------------------------------------------------------------------------------------
def test_build_records_how_the_image_runs(built):
    _, _, info = built
    config = info["config"]
    assert (config["mode"], config["memory"], config["fuel"]) == ("os", 128 * 1024, 100000)
    assert config["limits"] == {"cpu_seconds": 3, "memory_bytes": 64 << 20, "output_bytes": 4096}
    assert config["source"] == "counter.asm" and config["created"].endswith("Z")
    assert info["references"] == ["counter:1"]


def test_build_makes_an_oci_manifest_with_a_layer_per_file(built):
    store, directory, info = built
    manifest = info["manifest"]
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    assert [(d["mediaType"], d["annotations"][TITLE]) for d in manifest["layers"]] == [
        (PROGRAM_TYPE, "counter.asm"), (EXTENSION_TYPE, "bitops.py"), (INPUT_TYPE, "input.txt")]
    assert blob_path(store, layer(info, EXTENSION_TYPE)["digest"]).read_bytes() == EXTENSION.read_bytes()
    assert blob_path(store, layer(info, INPUT_TYPE)["digest"]).read_bytes() == b"A\n"
    assert info["size"] == manifest["config"]["size"] + sum(d["size"] for d in manifest["layers"])


def test_the_program_layer_is_the_assembled_program_starting_at_its_entry(built, tmp_path):
    store, directory, info = built
    program = tmp_path / "counter.vmi"
    program.write_bytes(blob_path(store, layer(info, PROGRAM_TYPE)["digest"]).read_bytes())
    run = vm(store, "run", program, "--ext", directory / "bitops.py", stdin=b"A")  # 0x41: two bits set
    assert (run.returncode, run.stdout) == (0, b"2"), run.stderr
    assert vm(store, "run", directory / "counter.asm", "--ext", directory / "bitops.py").returncode == 99


def test_build_defaults_and_a_vmi_program(store, tmp_path):
    source = image_dir(tmp_path / "src", 'program = "p.asm"\n')
    ok(store, "image", "build", source, "-t", "plain")  # the tag defaults to latest
    info = inspect(store, "plain:latest")
    assert {k: info["config"][k] for k in ("mode", "memory", "fuel", "limits")} == {
        "mode": "hw", "memory": 1 << 20, "fuel": None,
        "limits": {"cpu_seconds": None, "memory_bytes": None, "output_bytes": None}}
    assert [d["mediaType"] for d in info["manifest"]["layers"]] == [PROGRAM_TYPE]

    vmi = tmp_path / "vmi"
    vmi.mkdir()
    ok(store, "asm", source / "p.asm", "-o", vmi / "p.vmi")
    image_dir(vmi, 'program = "p.vmi"\n', {})
    ok(store, "image", "build", vmi, "-t", "fromvmi:1")
    program = layer(inspect(store, "fromvmi:1"), PROGRAM_TYPE)
    assert blob_path(store, program["digest"]).read_bytes() == (vmi / "p.vmi").read_bytes()


BAD_VMFILES = [
    ('program = "p.asm"\ncolour = "blue"\n', "vmfile.toml: unknown key 'colour'; expected args, entry, extensions"),
    ('mode = "hw"\n', 'vmfile.toml: `program = "FILE"` is missing'),
    ('program = "p.asm"\nentry = "nowhere"\n', "vmfile.toml: entry 'nowhere' is not a label of p.asm"),
    ('program = "p.asm"\nentry = 4096\n', "vmfile.toml: entry 4096 is not a label of p.asm"),
    ('program = "missing.asm"\n', "vmfile.toml: program 'missing.asm': no such file in"),
    ('program = "../p.asm"\n', "vmfile.toml: program '../p.asm' is outside the image's directory"),
    ('program = "p.asm"\nmode = "fast"\n', "vmfile.toml: mode must be one of hw, para, auto, os, not 'fast'"),
    ('program = "p.asm"\nmemory = "1K"\n', "vmfile.toml: memory must be a multiple of 4096 from 64K to 4G"),
    ('program = "p.asm"\nmemory = "lots"\n', "vmfile.toml: memory must be a size such as 65536 or \"1M\""),
    ('program = "p.asm"\nfuel = -1\n', "vmfile.toml: fuel must be a whole number"),
    ('program = "p.asm"\nextensions = "bitops.py"\n', "vmfile.toml: extensions must be a list of file names"),
    ('program = "p.asm"\nextensions = ["none.py"]\n', "vmfile.toml: extension 'none.py': no such file in"),
    ('program = "p.asm"\nstdin = "none.txt"\n', "vmfile.toml: stdin 'none.txt': no such file in"),
    ('program = "p.asm"\n[limits]\ndisk = 1\n', "vmfile.toml: [limits] takes cpu, memory, output"),
    ('program = "p.asm"\n[limits]\ncpu = 0\n', "vmfile.toml: limits.cpu must be a whole number of seconds"),
    ('program = "p.asm\n', "vmfile.toml: Illegal character"),
]


@pytest.mark.parametrize(("vmfile", "message"), BAD_VMFILES, ids=[m.split(": ", 1)[1][:28] for _, m in BAD_VMFILES])
def test_a_bad_vmfile_is_one_clear_line_and_stores_nothing(store, tmp_path, vmfile, message):
    directory = image_dir(tmp_path / "img", vmfile)
    err = fails(store, "image", "build", directory, "-t", "bad:1")
    assert err.startswith(f"vm: {directory / 'vmfile.toml'}"), err
    assert message in err, err
    assert blob_files(store) == {} and references(store) == []


def test_an_assembly_error_names_the_file_and_line(store, tmp_path):
    directory = image_dir(tmp_path / "img", 'program = "p.asm"\n', {"p.asm": "main: li r1, 1\n  bogus r1\n halt\n"})
    proc = vm(store, "image", "build", directory, "-t", "bad:1")
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert err.splitlines()[0] == "vm: p.asm:2:3: error: unknown instruction 'bogus'", err
    assert blob_files(store) == {} and references(store) == []


@pytest.mark.parametrize(("args", "message"), [
    (["image", "build", "/nonexistent/dir", "-t", "x:1"], "/nonexistent/dir/vmfile.toml: no such file"),
    (["image", "build", ".", "-t", "Upper:1"], "'Upper' is not an image name"),
    (["image", "build", ".", "-t", "x:b!d"], "'b!d' is not a tag"),
    (["image", "build", ".", "-t", "x@sha256:" + "0" * 64], "name the image NAME:TAG; its digest is computed"),
    (["image", "inspect", "ghost:1"], "no image ghost:1 in the store"),
    (["image", "rm", "ghost:1"], "no image ghost:1 in the store"),
    (["image", "tag", "ghost:1", "other:1"], "no image ghost:1 in the store"),
    (["image", "save", "ghost:1", "-o", "out.tar"], "no image ghost:1 in the store"),
    (["image", "load", "/nonexistent.tar"], "cannot read /nonexistent.tar: no such file"),
    (["image"], "`vm image` needs a subcommand"),
])
def test_usage_errors_are_one_line(store, args, message):
    assert message in fails(store, *args)


# -- ls, inspect, tag, rm ----------------------------------------------------------------------------------
def test_ls_lists_every_reference(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\nmode = "para"\n'), "-t", "zeta:1")
    ok(store, "image", "build", image_dir(tmp_path / "b", 'program = "p.asm"\n'), "-t", "alpha:2")
    lines = ok(store, "image", "ls").splitlines()
    assert lines[0].split() == ["REFERENCE", "DIGEST", "MODE", "SIZE", "CREATED"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[2]) for r in rows] == [("alpha:2", "hw"), ("zeta:1", "para")]
    for row in rows:
        assert inspect(store, row[0])["digest"][7:19] == row[1]
    assert ok(tmp_path / "empty", "image", "ls").split() == ["REFERENCE", "DIGEST", "MODE", "SIZE", "CREATED"]


def test_tag_gives_the_same_image_another_name(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "one:1")
    digest = inspect(store, "one:1")["digest"]
    ok(store, "image", "tag", "one:1", "tools/two:beta")
    ok(store, "image", "tag", digest[7:19], "three")  # a digest prefix, as `vm image ls` shows it
    ok(store, "image", "tag", digest, "four:1")
    for ref in ["tools/two:beta", "three:latest", "four:1", f"one@{digest}", digest, digest[7:19]]:
        assert inspect(store, ref)["digest"] == digest, ref
    assert inspect(store, "one:1")["references"] == ["four:1", "one:1", "three:latest", "tools/two:beta"]
    assert ok(store, "image", "rm", "three") == "untagged three:latest\n"  # a bare name is NAME:latest
    assert "'Bad' is not an image name" in fails(store, "image", "tag", "one:1", "Bad:1")


def test_tag_moves_a_tag_that_named_another_image(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "app:1")
    ok(store, "image", "build", image_dir(tmp_path / "b", 'program = "p.asm"\nmode = "os"\n'), "-t", "app:2")
    ok(store, "image", "tag", "app:2", "app:1")
    assert inspect(store, "app:1")["digest"] == inspect(store, "app:2")["digest"]
    assert references(store) == ["app:2", "app:1"]


def test_rm_deletes_only_the_blobs_no_reference_reaches(store, tmp_path):
    # a and b share their program layer (same source, same file name) and differ in their config
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "a:1")
    ok(store, "image", "build", image_dir(tmp_path / "b", 'program = "p.asm"\nmode = "os"\n'), "-t", "b:1")
    ok(store, "image", "tag", "a:1", "a:2")
    a, b = inspect(store, "a:1"), inspect(store, "b:1")
    assert layer(a, PROGRAM_TYPE)["digest"] == layer(b, PROGRAM_TYPE)["digest"]
    assert len(blob_files(store)) == 5  # the shared program, two configs, two manifests

    assert ok(store, "image", "rm", "a:1") == "untagged a:1\n"  # a:2 still reaches it all
    assert len(blob_files(store)) == 5
    assert ok(store, "image", "rm", "a:2") == "untagged a:2\ndeleted 2 blobs\n"
    left = set(blob_files(store))
    assert left == {d.removeprefix("sha256:") for d in [b["digest"], b["manifest"]["config"]["digest"],
                                                         layer(b, PROGRAM_TYPE)["digest"]]}
    assert inspect(store, "b:1") == b
    assert "no image a:1 in the store" in fails(store, "image", "inspect", "a:1")


def test_rm_by_digest_removes_every_tag_of_the_image(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "a:1")
    ok(store, "image", "tag", "a:1", "b:1")
    digest = inspect(store, "a:1")["digest"]
    assert ok(store, "image", "rm", digest[7:19]) == "untagged a:1\nuntagged b:1\ndeleted 3 blobs\n"
    assert blob_files(store) == {} and references(store) == []


# -- content addresses -----------------------------------------------------------------------------------
def test_every_blob_is_named_by_the_sha256_of_its_bytes(built):
    store, _, info = built
    blobs = blob_files(store)
    assert blobs and all(name == hashlib.sha256(data).hexdigest() for name, data in blobs.items())
    descriptors = [info["manifest"]["config"], *info["manifest"]["layers"]]
    assert sorted(blobs) == sorted(d["digest"].removeprefix("sha256:") for d in [*descriptors, info])
    assert all(len(blobs[d["digest"][7:]]) == d["size"] for d in descriptors)
    assert json.loads(blobs[info["digest"][7:]]) == info["manifest"]  # the image's digest is its manifest's
    assert json.loads(blobs[info["manifest"]["config"]["digest"][7:]]) == info["config"]
    assert json.loads((store / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = json.loads((store / "index.json").read_text())["manifests"]
    assert entry == {"mediaType": MANIFEST_TYPE, "digest": info["digest"], "size": len(blobs[info["digest"][7:]]),
                     "annotations": {"org.opencontainers.image.ref.name": "counter:1"}}


def test_the_same_input_gives_the_same_digests(built, tmp_path):
    store, directory, info = built
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    ok(tmp_path / "other", "image", "build", copy, "-t", "elsewhere:7")
    again = inspect(tmp_path / "other", "elsewhere:7")
    assert again["manifest"]["layers"] == info["manifest"]["layers"]  # the same bytes, the same digests
    # the config differs at most in its creation time, and with it the image's digest
    assert {**again["config"], "created": None} == {**info["config"], "created": None}
    if again["config"]["created"] == info["config"]["created"]:
        assert again["digest"] == info["digest"]
    else:
        assert again["digest"] != info["digest"]


def test_storing_the_same_bytes_twice_keeps_one_blob(tmp_path):
    store = ImageStore(tmp_path / "store")
    first = store.put_blob(b"some bytes")
    assert store.put_blob(b"some bytes") == first == "sha256:" + hashlib.sha256(b"some bytes").hexdigest()
    assert list(blob_files(tmp_path / "store")) == [first[7:]]
    with pytest.raises(StoreError, match="content does not match its digest"):
        store.put_blob(b"other bytes", first)
    assert list(blob_files(tmp_path / "store")) == [first[7:]]


# -- damage ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_layer_in_the_store_is_detected_when_read(store, tmp_path, damage):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "a:1")
    digest = layer(inspect(store, "a:1"), PROGRAM_TYPE)["digest"]
    path = blob_path(store, digest)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if damage == "flip" else data[: len(data) // 2])
    message = f"vm: blob {digest} in {store} is damaged: its bytes no longer match its digest"
    assert fails(store, "image", "inspect", "a:1") == message
    assert fails(store, "image", "save", "a:1", "-o", tmp_path / "a.tar") == message
    assert not (tmp_path / "a.tar").exists()


def test_a_damaged_config_shows_in_ls(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "a:1")
    config = inspect(store, "a:1")["manifest"]["config"]["digest"]
    blob_path(store, config).write_text("{}")
    (entry,) = json.loads((store / "index.json").read_text())["manifests"]
    (row,) = ok(store, "image", "ls").splitlines()[1:]
    assert row.split()[:4] == ["a:1", entry["digest"][7:19], "damaged", "-"] and "is damaged" in row
    assert "is damaged" in fails(store, "image", "inspect", "a:1")


def test_a_descriptor_whose_size_is_wrong_is_refused(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "a:1")
    info = inspect(store, "a:1")
    info["manifest"]["layers"][0]["size"] += 1
    images = ImageStore(store)
    images.tag(images.put_blob(json.dumps(info["manifest"]).encode()), "liar:1")
    err = fails(store, "image", "inspect", "liar:1")
    assert f"blob {info['manifest']['layers'][0]['digest'][:19]} is" in err and "its descriptor says" in err


# -- save and load -----------------------------------------------------------------------------------------
def test_save_then_load_into_another_store_gives_the_same_images(built, tmp_path):
    store, _, info = built
    ok(store, "image", "tag", "counter:1", "counter:copy")
    try:
        tar_path = tmp_path / "images.tar"
        assert ok(store, "image", "save", "counter:1", "counter:copy", "-o", tar_path) == ""
    finally:
        ok(store, "image", "rm", "counter:copy")
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())
        layout = json.loads(tar.extractfile("oci-layout").read())
    assert layout == {"imageLayoutVersion": "1.0.0"}
    assert [(m["digest"], m["annotations"]) for m in index["manifests"]] == [
        (info["digest"], {"org.opencontainers.image.ref.name": "counter:1"}),
        (info["digest"], {"org.opencontainers.image.ref.name": "counter:copy"})]
    assert sorted(n for n in names if n.startswith("blobs/")) == sorted(f"blobs/sha256/{n}" for n in blob_files(store))

    other = tmp_path / "other"
    assert ok(other, "image", "load", tar_path) == "loaded counter:1\nloaded counter:copy\n"
    assert inspect(other, "counter:1") == {**info, "references": ["counter:1", "counter:copy"]}
    assert blob_files(other) == blob_files(store)


def test_save_by_digest_loads_without_a_tag(built, tmp_path):
    store, _, info = built
    ok(store, "image", "save", info["digest"], "-o", tmp_path / "untagged.tar")
    other = tmp_path / "other"
    assert ok(other, "image", "load", tmp_path / "untagged.tar") == f"loaded {info['digest']}\n"
    assert references(other) == []
    assert inspect(other, info["digest"]) == {**info, "references": []}


def rewrite_tar(source: Path, target: Path, change) -> None:
    """Copy a tar file, every member's bytes passed through `change(name, data)` (None leaves it out)."""
    with tarfile.open(source) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(target, "w") as tar:
        for name, data in members:
            data = change(name, data)
            if data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(("damage", "message"), [
    ("flip", "is damaged (its bytes do not match its digest)"),
    ("drop", "is not in the store"),
    ("index", "no OCI index.json with manifests in it"),
])
def test_a_damaged_tar_loads_nothing(built, tmp_path, damage, message):
    store, _, info = built
    saved, damaged = tmp_path / "good.tar", tmp_path / "damaged.tar"
    ok(store, "image", "save", "counter:1", "-o", saved)
    victim = "blobs/sha256/" + layer(info, PROGRAM_TYPE)["digest"][7:]

    def change(name: str, data: bytes) -> bytes | None:
        if damage == "index" and name == "index.json":
            return b'{"manifests": "none"}'
        if name == victim:
            return None if damage == "drop" else data[:-1] + bytes([data[-1] ^ 0xFF])
        return data

    rewrite_tar(saved, damaged, change)
    other = tmp_path / "other"
    err = fails(other, "image", "load", damaged)
    assert err.startswith(f"vm: {damaged}: ") and message in err, err
    if damage == "drop":
        assert err.endswith("nothing was loaded")
    assert blob_files(other) == {} and references(other) == []


def test_loading_a_file_that_is_not_a_tar(store, tmp_path):
    (tmp_path / "junk.tar").write_bytes(b"not a tar file at all\n" * 40)
    assert "not a readable tar file" in fails(store, "image", "load", tmp_path / "junk.tar")
    assert blob_files(store) == {}


# -- Docker's spellings ------------------------------------------------------------------------------------
def test_images_and_rmi_are_image_ls_and_image_rm(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "alpha:1")
    assert ok(store, "images") == ok(store, "image", "ls")
    assert ok(store, "rmi", "alpha:1").startswith("untagged alpha:1\n")
    assert references(store) == []


@pytest.mark.parametrize("command", [["image", "ls"], ["images"]])
def test_ls_quiet_and_json(store, tmp_path, command):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\nmode = "para"\n'), "-t", "alpha:1")
    digest = inspect(store, "alpha:1")["digest"]
    assert ok(store, *command, "-q") == digest[7:19] + "\n"
    (line,) = ok(store, *command, "--format", "json").splitlines()
    listed = json.loads(line)
    assert (listed["reference"], listed["digest"], listed["mode"]) == ("alpha:1", digest, "para")
    assert listed["size"] == inspect(store, "alpha:1")["size"]


def test_save_to_standard_output_and_load_from_standard_input_or_i(store, tmp_path):
    ok(store, "image", "build", image_dir(tmp_path / "a", 'program = "p.asm"\n'), "-t", "alpha:1")
    saved = vm(store, "image", "save", "alpha:1")
    assert saved.returncode == 0 and tarfile.is_tarfile(io.BytesIO(saved.stdout))
    written = tmp_path / "alpha.tar"
    ok(store, "image", "save", "alpha:1", "-o", written)
    assert written.read_bytes() == saved.stdout  # the same tar, wherever it goes
    for args, stdin in ((["-i", written], b""), ([], saved.stdout)):
        other = tmp_path / f"other{len(args)}"
        proc = vm(other, "image", "load", *args, stdin=stdin)
        assert proc.returncode == 0 and proc.stdout == b"loaded alpha:1\n", proc.stderr
        assert inspect(other, "alpha:1")["digest"] == inspect(store, "alpha:1")["digest"]
    assert "give the tar file once" in fails(store, "image", "load", written, "-i", written)


# -- RISC-V executables -----------------------------------------------------------------------------------
RISCV = ROOT / "guest_programs" / "riscv64"


def test_the_committed_riscv_vmfile_builds_an_image_of_the_executable(store):
    ok(store, "image", "build", RISCV, "-t", "rvhello:1")
    info = inspect(store, "rvhello:1")
    (program,) = info["manifest"]["layers"]
    assert program["mediaType"] == EXECUTABLE_TYPE and program["annotations"][TITLE] == "hello"
    assert blob_path(store, program["digest"]).read_bytes() == (RISCV / "hello").read_bytes()
    config = info["config"]
    assert (config["mode"], config["memory"], config["args"]) == ("hw", 256 << 20, [])
    assert config["limits"]["cpu_seconds"] == 5
    assert "hw  " in ok(store, "image", "ls")


def test_a_riscv_image_keeps_its_arguments_and_input_and_survives_save_and_load(store, tmp_path):
    args = ["first", "two words", "", "--flag=x"]
    directory = image_dir(tmp_path / "rv", f'program = "args_stdin"\nargs = {json.dumps(args)}\n'
                          'stdin = "args_stdin.in"\nmemory = "64M"\n',
                          {"args_stdin": (RISCV / "args_stdin").read_bytes(),
                           "args_stdin.in": (RISCV / "args_stdin.in").read_bytes()})
    ok(store, "image", "build", directory, "-t", "rvargs:1")
    info = inspect(store, "rvargs:1")
    assert [d["mediaType"] for d in info["manifest"]["layers"]] == [EXECUTABLE_TYPE, INPUT_TYPE]
    assert (info["config"]["args"], info["config"]["memory"]) == (args, 64 << 20)
    tar = tmp_path / "rv.tar"
    ok(store, "image", "save", "rvargs:1", "-o", tar)
    other = tmp_path / "other"
    ok(other, "image", "load", tar)
    assert inspect(other, "rvargs:1")["digest"] == info["digest"]


@pytest.mark.parametrize(("vmfile", "message"), [
    ('program = "hello"\nmode = "os"\n', "vmfile.toml: mode os: os runs vm64 code on the host's own processor; "
     "hello is a riscv64 program: run it in hw (--mode hw or auto)"),
    ('program = "hello"\nmode = "para"\n', "vmfile.toml: mode para: para runs vm64 code"),
    ('program = "hello"\nentry = "main"\n', "vmfile.toml: entry is for a vm64 program; hello is a RISC-V executable"),
    ('program = "hello"\nargs = "-n"\n', "vmfile.toml: args must be a list of strings"),
    ('program = "hello"\nmemory = "8M"\n', "hello: its segments"),  # the 8 MiB stack alone fills it
    ('program = "p.asm"\nargs = ["x"]\n', "vmfile.toml: args are for a Linux executable; p.asm is a vm64 program"),
])
def test_a_riscv_vmfile_that_cannot_run_is_refused_at_build(store, tmp_path, vmfile, message):
    directory = image_dir(tmp_path / "rv", vmfile, {"hello": (RISCV / "hello").read_bytes(), "p.asm": SIMPLE})
    assert message in fails(store, "image", "build", directory, "-t", "rv:1")
    assert not blob_files(store)


def test_a_dynamically_linked_or_foreign_elf_is_refused_as_vm_run_refuses_it(store, tmp_path):
    foreign = Path(shutil.which("ls")).read_bytes()
    directory = image_dir(tmp_path / "rv", 'program = "ls"\n', {"ls": foreign})
    assert "vm runs 64-bit RISC-V (riscv64) executables" in fails(store, "image", "build", directory, "-t", "rv:1")

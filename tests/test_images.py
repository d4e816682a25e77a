"""Images through the `vm image` commands: built from a vmfile, content-addressed, listed, inspected,
tagged, removed, saved to and loaded from tar; every damaged byte is caught and nothing half-done is kept."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def vm(*args, store: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True, timeout=120,
                          env={**os.environ, "VM_IMAGES": str(store)})
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def ok(*args, store: Path) -> str:
    proc = vm(*args, store=store)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


def refused(*args, store: Path) -> str:
    proc = vm(*args, store=store)
    assert proc.returncode == 2, proc.stdout
    line = proc.stderr.decode()
    assert line.startswith("vm: "), line  # one line, or an assembly error with its source line under it
    return line


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An image directory: echo_upper with its input, run in os, with limits and an extension."""
    directory = tmp_path / "app"
    directory.mkdir()
    for name in ("echo_upper.asm", "echo_upper.in"):
        (directory / name).write_bytes((ROOT / "guest_programs" / name).read_bytes())
    (directory / "bitops.py").write_bytes((ROOT / "extensions" / "bitops.py").read_bytes())
    (directory / "vmfile.toml").write_text('program = "echo_upper.asm"\nmode = "os"\nmemory = "256K"\n'
                                           'fuel = 1000000\nstdin = "echo_upper.in"\nextensions = ["bitops.py"]\n'
                                           '[limits]\ncpu = 5\noutput = "1M"\n')
    return directory


def test_an_image_holds_the_program_its_settings_and_its_input(app: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    digest = ok("image", "build", app, "-t", "upper:1", store=store).split()[-1]
    image = json.loads(ok("image", "inspect", "upper:1", store=store))
    assert image["digest"] == digest and image["references"] == ["upper:1"]
    assert image["config"]["mode"] == "os" and image["config"]["memory"] == 256 * 1024
    assert image["config"]["fuel"] == 1_000_000 and image["config"]["limits"]["cpu_seconds"] == 5
    assert image["config"]["limits"]["output_bytes"] == 1 << 20
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in image["manifest"]["layers"]]
    assert titles == ["echo_upper.asm", "bitops.py", "echo_upper.in"]
    listing = ok("image", "ls", store=store)
    assert "upper:1" in listing and digest[7:19] in listing and " os " in listing


def test_every_blob_is_named_by_the_sha256_of_its_bytes(app: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok("image", "build", app, "-t", "upper:1", store=store)
    blobs = list((store / "blobs" / "sha256").iterdir())
    assert len(blobs) == 5  # manifest, config, program, extension, input
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert json.loads((store / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_tag_and_rm_keep_blobs_that_a_reference_still_reaches(app: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok("image", "build", app, "-t", "upper:1", store=store)
    ok("image", "tag", "upper:1", "upper:latest", store=store)
    assert ok("image", "rm", "upper:1", store=store) == "untagged upper:1\n"  # upper:latest still reaches them
    assert len(list((store / "blobs" / "sha256").iterdir())) == 5
    assert ok("image", "rm", "upper", store=store) == "untagged upper:latest\ndeleted 5 blobs\n"
    assert ok("image", "ls", store=store).splitlines()[1:] == []
    assert "no image upper:latest in the store" in refused("image", "inspect", "upper", store=store)


def test_save_and_load_carry_images_to_another_store(app: Path, tmp_path: Path) -> None:
    first, second, tar = tmp_path / "one", tmp_path / "two", tmp_path / "upper.tar"
    ok("image", "build", app, "-t", "upper:1", store=first)
    ok("image", "save", "upper:1", "-o", tar, store=first)
    with tarfile.open(tar) as archive:
        names = archive.getnames()
    assert {"oci-layout", "index.json"} <= set(names) and sum(n.startswith("blobs/sha256/") for n in names) == 5
    assert ok("image", "load", tar, store=second) == "loaded upper:1\n"
    assert json.loads(ok("image", "inspect", "upper:1", store=second)) == \
        json.loads(ok("image", "inspect", "upper:1", store=first))


def test_a_tar_with_a_damaged_blob_loads_nothing(app: Path, tmp_path: Path) -> None:
    first, second, tar, bad = tmp_path / "one", tmp_path / "two", tmp_path / "upper.tar", tmp_path / "bad.tar"
    ok("image", "build", app, "-t", "upper:1", store=first)
    ok("image", "save", "upper:1", "-o", tar, store=first)
    with tarfile.open(tar) as source, tarfile.open(bad, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.startswith("blobs/") and b"mixed CaSe" in data:  # the input layer
                data = data.replace(b"mixed", b"MIXED")
            target.addfile(member, io.BytesIO(data))
    assert "is damaged (its bytes do not match its digest)" in refused("image", "load", bad, store=second)
    assert not (second / "blobs" / "sha256").exists() or not list((second / "blobs" / "sha256").iterdir())
    assert ok("image", "ls", store=second).splitlines()[1:] == []


def test_a_blob_damaged_in_the_store_is_caught_when_read(app: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok("image", "build", app, "-t", "upper:1", store=store)
    manifest = json.loads(ok("image", "inspect", "upper:1", store=store))["manifest"]
    program = store / "blobs" / "sha256" / manifest["layers"][0]["digest"].removeprefix("sha256:")
    program.write_bytes(program.read_bytes()[:-1])
    assert "no longer match its digest" in refused("image", "inspect", "upper:1", store=store)


@pytest.mark.parametrize("vmfile, message", [
    ('program = "echo_upper.asm"\ncolour = "red"\n', "unknown key 'colour'"),
    ('mode = "os"\n', '`program = "FILE"` is missing'),
    ('program = "nothere.asm"\n', "program 'nothere.asm': no such file"),
    ('program = "../outside.asm"\n', "is outside the image's directory"),
    ('program = "broken.asm"\n', "broken.asm:2:"),
    ('program = "echo_upper.asm"\nentry = "nowhere"\n', "entry 'nowhere' is not a label"),
    ('program = "echo_upper.asm"\nmode = "fast"\n', "mode must be one of"),
    ('program = "echo_upper.asm"\nmemory = "100"\n', "memory must be a multiple of 4096"),
    ('program = "echo_upper.asm"\n[limits]\ncpu = 0\n', "limits.cpu must be a whole number of seconds"),
    ('program = [\n', "vmfile.toml"),
])
def test_a_bad_vmfile_is_one_line_naming_the_file(app: Path, tmp_path: Path, vmfile: str, message: str) -> None:
    (app / "broken.asm").write_text("main: halt\n        frobnicate r1\n")
    (tmp_path / "outside.asm").write_text("main: halt\n")
    (app / "vmfile.toml").write_text(vmfile)
    line = refused("image", "build", app, "-t", "bad:1", store=tmp_path / "store")
    assert message in line and ("vmfile.toml" in line or "broken.asm" in line)


def test_bad_references_are_refused(app: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert "is not an image name" in refused("image", "build", app, "-t", "Upper:1", store=store)
    assert "is not a tag" in refused("image", "build", app, "-t", "upper:b!d", store=store)
    assert "needs a subcommand" in refused("image", store=store)

"""The registry as a real process on loopback, and `vm push` / `vm pull` against it: only missing blobs
are sent, every digest and size is checked before anything is installed, pushing needs the token,
and every refusal is the OCI error form with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from processes import serve

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "registry-test-token"
REQUEST_SECONDS = 60


def vm(*args, store: Path, token: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VM_IMAGES": str(store), "VM_REGISTRY_TOKEN": token or ""}
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True,
                          timeout=REQUEST_SECONDS, env=env)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def ok(*args, store: Path, token: str | None = None) -> str:
    proc = vm(*args, store=store, token=token)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry with a token, and a store holding the images hello:1 and upper:1."""
    base = tmp_path_factory.mktemp("registry")
    store = base / "store"
    for name, program in (("hello", "hello_hcall"), ("upper", "echo_upper")):
        directory = base / name
        directory.mkdir()
        (directory / f"{program}.asm").write_bytes((ROOT / "guest_programs" / f"{program}.asm").read_bytes())
        (directory / "vmfile.toml").write_text(f'program = "{program}.asm"\n')
        ok("image", "build", directory, "-t", f"{name}:1", store=store)
    with serve(["registry", "serve", "--port", "0", "--root", str(base / "root"), "--token", TOKEN],
               base / "registry.log") as server:
        assert server.ready_line.startswith("registry listening on http://127.0.0.1:")
        yield server.ready_line.rsplit(" ", 1)[1], base / "root", store


def test_push_then_pull_into_another_store_gives_the_same_image(registry, tmp_path: Path) -> None:
    url, _, store = registry
    first = ok("push", "hello:1", "--registry", url, store=store, token=TOKEN)
    assert "2 blobs sent" in first or "0 blobs sent" in first  # config and program (or pushed already)
    again = ok("push", "hello:1", "--registry", url, store=store, token=TOKEN)
    assert "0 blobs sent, 2 already there" in again
    other = tmp_path / "other"
    assert "2 blobs fetched" in ok("pull", "hello:1", "--registry", url, store=other)
    assert json.loads(ok("image", "inspect", "hello:1", store=other)) == \
        json.loads(ok("image", "inspect", "hello:1", store=store))
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/v2/hello/tags/list").json() == {"name": "hello", "tags": ["1"]}


def test_pushing_needs_the_token_and_pulling_does_not(registry, tmp_path: Path) -> None:
    url, _, store = registry
    for token, message in ((None, b"pushing to this registry needs its token"), ("wrong", b"the token was refused")):
        proc = vm("push", "upper:1", "--registry", url, store=store, token=token)
        assert proc.returncode == 2 and b"401 UNAUTHORIZED" in proc.stderr and message in proc.stderr
    ok("push", "upper:1", "--registry", url, store=store, token=TOKEN)
    ok("pull", "upper:1", "--registry", url, store=tmp_path / "other")


def test_an_unknown_image_or_registry_is_named(registry, tmp_path: Path) -> None:
    url, _, store = registry
    proc = vm("pull", "nosuch:1", "--registry", url, store=tmp_path / "other")
    assert proc.returncode == 2 and b"NAME_UNKNOWN: no repository nosuch" in proc.stderr
    proc = vm("push", "nosuch:1", "--registry", url, store=store, token=TOKEN)
    assert proc.returncode == 2 and b"no image nosuch:1 in the store" in proc.stderr
    proc = vm("pull", "hello:1", "--registry", "http://127.0.0.1:9", store=tmp_path / "other")
    assert proc.returncode == 2 and b"cannot reach the registry" in proc.stderr
    proc = vm("pull", "hello:1", store=tmp_path / "other")
    assert proc.returncode == 2 and b"which registry?" in proc.stderr


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
def test_a_damaged_blob_on_the_registry_installs_nothing(registry, tmp_path: Path, damage: str) -> None:
    url, root, store = registry
    name = f"damaged{damage}"
    ok("image", "tag", "hello:1", f"{name}:1", store=store)
    ok("push", f"{name}:1", "--registry", url, store=store, token=TOKEN)
    manifest = json.loads(ok("image", "inspect", f"{name}:1", store=store))["manifest"]
    blob = root / "blobs" / "sha256" / manifest["layers"][0]["digest"].removeprefix("sha256:")
    original = blob.read_bytes()
    try:
        blob.write_bytes(original[:-1] + b"!" if damage == "tampered" else original[:-8])
        other = tmp_path / "other"
        proc = vm("pull", f"{name}:1", "--registry", url, store=other)
        expected = b"does not match its digest" if damage == "tampered" else b"the manifest says"
        assert proc.returncode == 2 and expected in proc.stderr and b"nothing was installed" in proc.stderr
        assert not list((other / "blobs" / "sha256").iterdir())
        assert ok("image", "ls", store=other).splitlines()[1:] == []
    finally:
        blob.write_bytes(original)


def test_bad_manifests_and_uploads_get_the_oci_error_codes(registry) -> None:
    url, _, store = registry
    ok("push", "hello:1", "--registry", url, store=store, token=TOKEN)
    manifest = json.loads(ok("image", "inspect", "hello:1", store=store))["manifest"]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    unknown = {**manifest, "layers": [{**manifest["layers"][0], "digest": "sha256:" + "0" * 64}]}
    cases = [
        (b"{not json", 400, "MANIFEST_INVALID"),
        (json.dumps({"schemaVersion": 2, "layers": []}).encode(), 400, "MANIFEST_INVALID"),
        (json.dumps(unknown).encode(), 400, "MANIFEST_BLOB_UNKNOWN"),
    ]
    with httpx.Client(base_url=url, timeout=10) as client:
        for body, status, code in cases:
            response = client.put("/v2/hello/manifests/bad", content=body, headers=headers)
            assert (response.status_code, response.json()["errors"][0]["code"]) == (status, code)
        start = client.post("/v2/hello/blobs/uploads/", headers=headers)
        assert start.status_code == 202
        response = client.put(start.headers["Location"], params={"digest": "sha256:" + "1" * 64},
                              content=b"other bytes", headers=headers)
        assert (response.status_code, response.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")
        assert client.get("/v2/hello/manifests/bad").status_code == 404  # nothing was stored under the tag
        assert client.get("/v2/hello/blobs/sha256:" + "1" * 64).status_code == 404
        assert client.get("/v2/").status_code == 200
        assert client.get("/nothing").json()["errors"][0]["code"] == "NOT_FOUND"

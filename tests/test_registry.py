"""The registry as a real process on loopback (`vm registry serve --port 0`, a temporary root, a push
token), with `vm push` and `vm pull` run against it as real processes and its HTTP API spoken
directly with httpx, every request bounded by a timeout.

Only the blobs the registry lacks are sent; pulling needs no token, pushing needs the right one;
every blob and manifest is checked before anything is installed, so a damaged registry disk leaves
the puller's store as it was; every refusal is the OCI error form, and every mistake one clear line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from processes import Server, serve

TOKEN = "registry-test-token"
REQUEST_SECONDS = 60  # every command of a test ends within this
HTTP_TIMEOUT = httpx.Timeout(10.0)  # and every direct request within this
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROGRAM = "; {name}: prints its name\nmain:   li r1, 1\n        la r2, text\n        li r3, {length}\n" \
          "        hcall 1\n        li r0, 0\n        halt\ntext:   .ascii \"{name}\"\n"


@dataclass
class Registry:
    url: str
    root: Path
    server: Server


def vm(*args, store: Path, token: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VM_IMAGES": str(store), "VM_REGISTRY_TOKEN": token or ""}
    env.pop("VM_REGISTRY", None)
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True,
                          timeout=REQUEST_SECONDS, env=env)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def ok(*args, store: Path, token: str | None = None) -> str:
    proc = vm(*args, store=store, token=token)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


def fails(*args, store: Path, token: str | None = None) -> str:
    """The one `vm: ...` line of a command that must fail with status 2."""
    proc = vm(*args, store=store, token=token)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert err.startswith("vm: ") and err.count("\n") == 1, err
    return err.strip()


def build(store: Path, base: Path, name: str) -> dict:
    """Build NAME:1, a program of its own (no blob shared with another image); its inspect JSON."""
    directory = base / f"{name}-src"
    directory.mkdir()
    (directory / f"{name}.asm").write_text(PROGRAM.format(name=name, length=len(name)))
    (directory / "vmfile.toml").write_text(f'program = "{name}.asm"\n')
    ok("image", "build", directory, "-t", f"{name}:1", store=store)
    return inspect(store, f"{name}:1")


def inspect(store: Path, ref: str) -> dict:
    return json.loads(ok("image", "inspect", ref, store=store))


def blob_files(store: Path) -> set[str]:
    blobs = store / "blobs" / "sha256"
    return {p.name for p in blobs.iterdir() if not p.name.startswith(".")} if blobs.is_dir() else set()


def assert_empty(store: Path) -> None:
    """Nothing was installed: no blob, no reference."""
    assert blob_files(store) == set()
    assert ok("image", "ls", store=store).splitlines()[1:] == []


def error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    (only,) = response.json()["errors"]
    assert set(only) == {"code", "message", "detail"} and only["message"]
    return response.status_code, only["code"]


def upload(http: httpx.Client, name: str, data: bytes, digest: str, headers=AUTH) -> httpx.Response:
    started = http.post(f"/v2/{name}/blobs/uploads/", headers=headers)
    assert started.status_code == 202, started.text
    return http.put(started.headers["Location"], params={"digest": digest}, content=data, headers=headers)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    root = tmp_path_factory.mktemp("registry") / "root"
    with serve(["registry", "serve", "--port", "0", "--root", str(root), "--token", TOKEN],
               root.parent / "registry.log") as server:
        match = re.fullmatch(r"registry listening on (http://127\.0\.0\.1:\d+)", server.ready_line)
        assert match, server.ready_line
        yield Registry(match[1], root, server)


@pytest.fixture(scope="module")
def http(registry):
    with httpx.Client(base_url=registry.url, timeout=HTTP_TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """The pusher's store: hello:1 in it, pushed once (by `pushed`)."""
    base = tmp_path_factory.mktemp("pusher")
    build(base / "store", base, "hello")
    return base / "store"


@pytest.fixture(scope="module")
def pushed(registry, images) -> tuple[str, dict]:
    """hello:1 pushed: what the first push printed, and the image's inspect JSON."""
    return ok("push", "hello:1", "--registry", registry.url, store=images, token=TOKEN), inspect(images, "hello:1")


# -- push and pull ------------------------------------------------------------------------------------------
def test_push_then_pull_into_another_store_gives_the_same_image(registry, pushed, images, tmp_path):
    said, image = pushed
    assert said == f"pushed hello:1 ({image['digest'][:19]}) to {registry.url}: 2 blobs sent, 0 already there\n"
    other = tmp_path / "other"
    pulled = ok("pull", "hello:1", "--registry", registry.url, store=other)  # no token: pulling is open
    assert pulled == f"pulled hello:1 ({image['digest'][:19]}) from {registry.url}: 2 blobs fetched\n"
    assert inspect(other, "hello:1") == image
    assert blob_files(other) == blob_files(images)
    again = ok("pull", "hello:1", "--registry", registry.url, store=other)
    assert again.endswith(": 0 blobs fetched\n")  # the store had them all


def test_a_second_push_sends_no_blob(registry, pushed, images):
    again = ok("push", "hello:1", "--registry", registry.url, store=images, token=TOKEN)
    assert again.endswith(": 0 blobs sent, 2 already there\n"), again


def test_the_registry_keeps_blobs_and_tags_on_disk(registry, pushed):
    _, image = pushed
    manifest = image["manifest"]
    digests = {image["digest"], manifest["config"]["digest"], *(d["digest"] for d in manifest["layers"])}
    assert {"sha256:" + name for name in blob_files(registry.root)} >= digests
    index = json.loads((registry.root / "repositories" / "hello" / "_index.json").read_text())
    assert index["tags"]["1"] == image["digest"] and image["digest"] in index["manifests"]


def test_pull_by_digest_installs_the_image_without_a_tag(registry, pushed, tmp_path):
    _, image = pushed
    other = tmp_path / "other"
    ok("pull", f"hello@{image['digest']}", "--registry", registry.url, store=other)
    assert inspect(other, image["digest"]) == {**image, "references": []}
    wrong = "sha256:" + "0" * 64
    assert "no manifest sha256:0000" in fails("pull", f"hello@{wrong}", "--registry", registry.url, store=other)


def test_tags_are_listed(registry, pushed, images, http):
    ok("image", "tag", "hello:1", "hello:2", store=images)
    assert ok("push", "hello:2", "--registry", registry.url, store=images, token=TOKEN).endswith(
        ": 0 blobs sent, 2 already there\n")
    response = http.get("/v2/hello/tags/list")
    assert response.status_code == 200 and response.json() == {"name": "hello", "tags": ["1", "2"]}
    assert error(http.get("/v2/nosuch/tags/list")) == (404, "NAME_UNKNOWN")


# -- the token -------------------------------------------------------------------------------------------------
def test_pushing_without_the_token_or_with_a_wrong_one_is_refused(registry, images, tmp_path, http):
    build(images, tmp_path, "secret")
    refused = "vm: the registry refused POST /v2/secret/blobs/uploads/: 401 UNAUTHORIZED: "
    assert fails("push", "secret:1", "--registry", registry.url, store=images) == \
        refused + "pushing to this registry needs its token"
    assert fails("push", "secret:1", "--registry", registry.url, store=images, token="wrong") == \
        refused + "the token was refused"
    assert error(http.get("/v2/secret/tags/list")) == (404, "NAME_UNKNOWN")  # nothing was pushed
    ok("push", "secret:1", "--registry", registry.url, store=images, token=TOKEN)
    ok("pull", "secret:1", "--registry", registry.url, store=tmp_path / "other")


def test_a_manifest_put_needs_the_token_even_when_every_blob_is_there(registry, pushed, images, http):
    ok("image", "tag", "hello:1", "hello:notoken", store=images)
    err = fails("push", "hello:notoken", "--registry", registry.url, store=images)
    assert err == "vm: the registry refused PUT /v2/hello/manifests/notoken: 401 UNAUTHORIZED: " \
                  "pushing to this registry needs its token"
    response = http.put("/v2/hello/manifests/notoken", content=json.dumps(pushed[1]["manifest"]))
    assert error(response) == (401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="vm registry",scope="repository:hello:push"'
    assert error(http.post("/v2/hello/blobs/uploads/", headers={"Authorization": "Bearer wrong"})) == \
        (401, "UNAUTHORIZED")
    assert "notoken" not in http.get("/v2/hello/tags/list").json()["tags"]


# -- unknown images, unreachable registries ---------------------------------------------------------------------
def test_an_unknown_image_is_named(registry, pushed, images, tmp_path):
    other = tmp_path / "other"
    assert fails("pull", "nosuch:1", "--registry", registry.url, store=other) == \
        "vm: the registry refused GET /v2/nosuch/manifests/1: 404 NAME_UNKNOWN: no repository nosuch in this registry"
    assert fails("pull", "hello:nosuch", "--registry", registry.url, store=other) == \
        "vm: the registry refused GET /v2/hello/manifests/nosuch: 404 MANIFEST_UNKNOWN: no tag nosuch in hello"
    assert_empty(other)
    assert "no image nosuch:1 in the store" in fails("push", "nosuch:1", "--registry", registry.url, store=images,
                                                     token=TOKEN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_registry_is_one_clear_line(images, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    for command in ("push", "pull"):
        err = fails(command, "hello:1", "--registry", url, store=images, token=TOKEN)
        assert err.startswith(f"vm: cannot reach the registry at {url}: ") and "is `vm registry serve` running" in err
    assert "must start with http:// or https://" in fails("pull", "hello:1", "--registry", "ftp://x", store=images)
    assert "which registry? name it in the reference" in fails("pull", "hello:1", store=tmp_path / "other")
    assert_empty(tmp_path / "other")


def test_one_registry_per_root(registry, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vm", "registry", "serve", "--port", "0", "--root",
                           str(registry.root)], capture_output=True, timeout=REQUEST_SECONDS)
    assert proc.returncode == 2 and proc.stderr.decode() == f"vm: another registry already serves {registry.root}\n"
    proc = subprocess.run([sys.executable, "-m", "vm", "registry", "serve", "--port", "0", "--root",
                           str(tmp_path / "r"), "--token", ""], capture_output=True, timeout=REQUEST_SECONDS)
    assert proc.returncode == 2 and proc.stderr.decode() == "vm: --token must not be empty\n"


# -- a damaged registry disk -----------------------------------------------------------------------------------
def damage_layer(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])  # the same length, another byte


DAMAGES = {  # what is damaged on the registry's disk, how, and what the puller says
    "tampered layer": ("layer", damage_layer, "does not match its digest (tampered or damaged on the registry)"),
    "truncated layer": ("layer", lambda data: data[: len(data) // 2], "bytes, the manifest says"),
    "tampered config": ("config", lambda data: data.replace(b'"hw"', b'"os"'), "does not match its digest"),
    "missing layer": ("layer", None, "404 BLOB_UNKNOWN"),
    "tampered manifest": ("manifest", lambda data: data.replace(b".asm", b".txt"), "does not match its digest"),
    "truncated manifest": ("manifest", lambda data: data[:-10], "does not match its digest"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_blob_on_the_registry_installs_nothing(registry, images, tmp_path, case):
    what, change, message = DAMAGES[case]
    name = "damaged" + "".join(c for c in case if c.isalpha())
    image = build(images, tmp_path, name)
    ok("push", f"{name}:1", "--registry", registry.url, store=images, token=TOKEN)
    digest = {"layer": image["manifest"]["layers"][0]["digest"], "config": image["manifest"]["config"]["digest"],
              "manifest": image["digest"]}[what]
    path = registry.root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    if change is None:
        path.unlink()
    else:
        damaged = change(path.read_bytes())
        assert damaged != path.read_bytes()
        path.write_bytes(damaged)
    other = tmp_path / "other"
    err = fails("pull", f"{name}:1", "--registry", registry.url, store=other)
    assert message in err and (err.endswith(": nothing was installed") or change is None), err
    assert_empty(other)


# -- manifests over HTTP -----------------------------------------------------------------------------------------
def bad_manifests(manifest: dict) -> dict[str, tuple[str, bytes, str]]:
    """(path after /v2/, body, the OCI error code) for each manifest the registry must refuse with 400."""
    layer = manifest["layers"][0]
    as_bytes = json.dumps(manifest).encode()
    return {
        "not JSON": ("hello/manifests/bad", b"{not json", "MANIFEST_INVALID"),
        "not an object": ("hello/manifests/bad", b"[1, 2]", "MANIFEST_INVALID"),
        "no config": ("hello/manifests/bad", json.dumps({"schemaVersion": 2, "layers": []}).encode(),
                      "MANIFEST_INVALID"),
        "schema 1": ("hello/manifests/bad", json.dumps({**manifest, "schemaVersion": 1}).encode(), "MANIFEST_INVALID"),
        "an index": ("hello/manifests/bad", json.dumps(
            {**manifest, "mediaType": "application/vnd.oci.image.index.v1+json"}).encode(), "MANIFEST_INVALID"),
        "bad descriptor": ("hello/manifests/bad", json.dumps(
            {**manifest, "layers": [{**layer, "digest": "md5:abc"}]}).encode(), "MANIFEST_INVALID"),
        "blob not pushed": ("hello/manifests/bad", json.dumps(
            {**manifest, "layers": [{**layer, "digest": "sha256:" + "0" * 64}]}).encode(), "MANIFEST_BLOB_UNKNOWN"),
        "wrong size": ("hello/manifests/bad", json.dumps(
            {**manifest, "layers": [{**layer, "size": layer["size"] + 1}]}).encode(), "MANIFEST_INVALID"),
        "not its digest": ("hello/manifests/sha256:" + "0" * 64, as_bytes, "DIGEST_INVALID"),
        "bad tag": ("hello/manifests/-bad", as_bytes, "TAG_INVALID"),
        "bad name": ("Hello/manifests/bad", as_bytes, "NAME_INVALID"),
    }


def test_a_bad_manifest_put_is_refused_with_its_oci_error_code(pushed, http):
    headers = {**AUTH, "Content-Type": MANIFEST_TYPE}
    for case, (path, body, code) in bad_manifests(pushed[1]["manifest"]).items():
        assert error(http.put(f"/v2/{path}", content=body, headers=headers)) == (400, code), case
        assert http.get(f"/v2/{path}").status_code in (400, 404), case  # nothing stored under it
    assert "bad" not in http.get("/v2/hello/tags/list").json()["tags"]


def test_manifests_by_tag_and_by_digest(pushed, http):
    _, image = pushed
    for reference in ("1", image["digest"]):
        got = http.get(f"/v2/hello/manifests/{reference}")
        assert got.status_code == 200 and json.loads(got.content) == image["manifest"]
        assert got.headers["Content-Type"] == MANIFEST_TYPE and got.headers["Docker-Content-Digest"] == image["digest"]
        head = http.head(f"/v2/hello/manifests/{reference}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Docker-Content-Digest"] == image["digest"]
    config = image["manifest"]["config"]["digest"]  # a blob of the registry, but no manifest of hello
    assert error(http.get(f"/v2/hello/manifests/{config}")) == (404, "MANIFEST_UNKNOWN")
    assert error(http.get("/v2/hello/manifests/sha256:xyz")) == (400, "DIGEST_INVALID")
    assert error(http.get("/v2/nosuch/manifests/1")) == (404, "NAME_UNKNOWN")

    # a manifest put under its own digest is stored, and tags nothing
    put = http.put(f"/v2/byhash/manifests/{image['digest']}", content=manifest_bytes(image, http),
                   headers={**AUTH, "Content-Type": MANIFEST_TYPE})
    assert put.status_code == 201 and put.headers["Docker-Content-Digest"] == image["digest"]
    assert put.headers["Location"] == f"/v2/byhash/manifests/{image['digest']}"
    assert http.get(f"/v2/byhash/manifests/{image['digest']}").status_code == 200
    assert http.get("/v2/byhash/tags/list").json() == {"name": "byhash", "tags": []}


def manifest_bytes(image: dict, http: httpx.Client) -> bytes:
    """The manifest's exact bytes, as the registry serves them (their sha256 is the image's digest)."""
    body = http.get(f"/v2/hello/manifests/{image['digest']}").content
    assert sha256(body) == image["digest"]
    return body


# -- blobs over HTTP -------------------------------------------------------------------------------------------
def test_blob_uploads_are_stored_only_when_their_bytes_match(registry, http):
    data = b"a blob pushed by hand\n"
    digest = sha256(data)
    wrong = upload(http, "hand", b"other bytes", digest)
    assert error(wrong) == (400, "DIGEST_INVALID") and "nothing was stored" in wrong.json()["errors"][0]["message"]
    assert error(http.get(f"/v2/hand/blobs/{digest}")) == (404, "BLOB_UNKNOWN")
    assert http.head(f"/v2/hand/blobs/{digest}").status_code == 404

    started = http.post("/v2/hand/blobs/uploads/", headers=AUTH)
    upload_id = started.headers["Docker-Upload-UUID"]
    assert started.headers["Location"] == f"/v2/hand/blobs/uploads/{upload_id}" and started.headers["Range"] == "0-0"
    elsewhere = http.put(f"/v2/other/blobs/uploads/{upload_id}", params={"digest": digest}, content=data, headers=AUTH)
    assert error(elsewhere) == (404, "BLOB_UPLOAD_UNKNOWN")  # an upload is for the name it was started for
    assert error(http.put(started.headers["Location"], params={"digest": digest}, content=data, headers=AUTH)) == \
        (404, "BLOB_UPLOAD_UNKNOWN")  # and good for one PUT, which the wrong name spent
    assert error(upload(http, "hand", data, "sha256:nothex")) == (400, "DIGEST_INVALID")

    stored = upload(http, "hand", data, digest)
    assert stored.status_code == 201, stored.text
    assert stored.headers["Location"] == f"/v2/hand/blobs/{digest}"
    assert stored.headers["Docker-Content-Digest"] == digest
    assert (registry.root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes() == data
    got = http.get(f"/v2/hand/blobs/{digest}")
    assert (got.status_code, got.content, got.headers["Docker-Content-Digest"]) == (200, data, digest)
    head = http.head(f"/v2/anyname/blobs/{digest}")  # blobs are shared by every name
    assert (head.status_code, head.content) == (200, b"")
    assert error(http.get("/v2/hand/blobs/sha256:xyz")) == (400, "DIGEST_INVALID")


def test_a_blob_larger_than_64_mib_is_refused(http):
    data = b"\0" * ((64 << 20) + 1)
    assert error(upload(http, "big", data, sha256(data))) == (413, "SIZE_INVALID")


def test_the_api_root_and_what_is_not_served(http):
    root = http.get("/v2/")
    assert (root.status_code, root.json(), root.headers["Docker-Distribution-API-Version"]) == (200, {}, "registry/2.0")
    assert error(http.post("/v2/", headers=AUTH)) == (405, "UNSUPPORTED")
    deleted = http.delete("/v2/hello/manifests/1", headers=AUTH)
    assert error(deleted) == (405, "UNSUPPORTED") and deleted.headers["Allow"] == "GET, HEAD, PUT"
    assert error(http.get("/v2/hello/blobs/uploads/", headers=AUTH)) == (405, "UNSUPPORTED")
    assert error(http.get("/v2/hello/elsewhere")) == (404, "NOT_FOUND")
    assert error(http.get("/nothing")) == (404, "NOT_FOUND")


def test_the_registry_logs_one_line_per_request(registry, http):
    http.get("/v2/")
    assert re.search(r'^127\.0\.0\.1 "GET /v2/" 200 2 [\d.]+ms$', registry.server.log_text(), re.MULTILINE)


def test_a_registry_named_in_the_reference_as_docker_does(registry, pushed, images, tmp_path):
    """`vm push 127.0.0.1:PORT/NAME:TAG` pushes the store's NAME:TAG there; pull stores it as NAME:TAG."""
    host = registry.url.removeprefix("http://")
    said = ok("push", f"{host}/hello:1", store=images, token=TOKEN)
    assert said.startswith("pushed hello:1 (") and said.endswith(f"to {registry.url}: 0 blobs sent, 2 already there\n")
    other = tmp_path / "other"
    assert ok("pull", f"{host}/hello:1", store=other).startswith("pulled hello:1 (")
    assert inspect(other, "hello:1")["digest"] == inspect(images, "hello:1")["digest"]
    assert fails("pull", f"{host}/hello:1", "--registry", "http://127.0.0.1:1", store=other) == (
        f"vm: {host}/hello:1 names the registry {registry.url}, --registry says http://127.0.0.1:1: give one")

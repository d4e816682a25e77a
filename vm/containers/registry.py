"""A registry server: images over HTTP, modelled on the OCI distribution spec (docs/images.md).

    ROOT/blobs/sha256/HEX                  every blob (configs, layers, manifests), shared by all names
    ROOT/repositories/NAME/_index.json     a name's tags and manifests: {"tags": {TAG: DIGEST}, "manifests": [...]}

The blobs are an ImageStore's; an upload is stored only once its bytes match the digest it was pushed
under, and a manifest only once every blob it names is here. What is on disk is served as it is: the
puller checks every digest (vm/containers/distribution.py), so a damaged disk is caught where it
matters, by the one who runs the image. One server per root, held by a lock for the server's life.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
import signal
import sys
import time
import traceback
import uuid
from collections import OrderedDict
from pathlib import Path

from aiohttp import web
from pydantic_core import from_json

from vm.containers import CLIENT_SECONDS
from vm.containers.errors import ContainerError
from vm.containers.serving import (
    BodyTimeout,
    GuardedRunner,
    answer_and_close,
    bearer_matches,
    client_closed,
    read_body,
)
from vm.containers.store import (
    MANIFEST_TYPE,
    ImageStore,
    StoreError,
    check_digest,
    check_manifest,
    check_name,
    check_tag,
    digest_of,
    write_atomically,
)

MAX_BLOB = 64 << 20  # the largest blob or manifest a push may send
MAX_UPLOADS = 1024  # upload sessions kept open at once (the oldest is forgotten beyond that)
API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
_ROUTES = [  # (pattern of the path after /v2/, {method: handler name}); the first match wins
    (re.compile(r"(?P<name>.+)/blobs/uploads/(?P<upload>[0-9a-f]{32})"), {"PUT": "put_upload"}),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), {"POST": "start_upload"}),
    (re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"), {"GET": "get_blob", "HEAD": "get_blob"}),
    (re.compile(r"(?P<name>.+)/manifests/(?P<reference>[^/]+)"),
     {"GET": "get_manifest", "HEAD": "get_manifest", "PUT": "put_manifest"}),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": "list_tags"}),
]


class RegistryError(Exception):
    """An error response in the spec's form: {"errors": [{"code", "message"}]} with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> web.Response:
        body = {"errors": [{"code": self.code, "message": self.message, "detail": None}]}
        return web.json_response(body, status=self.status, headers={**API_VERSION, **self.headers})


class Registry:
    """The registry's state on disk and its request handlers."""

    def __init__(self, root: Path, token: str | None = None) -> None:
        self.store = ImageStore(root)
        self.repositories = self.store.root / "repositories"
        self.token = token
        self.uploads: OrderedDict[str, str] = OrderedDict()  # upload id -> the name it was started for

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BLOB, middlewares=[self._log_and_answer_errors])
        app.router.add_route("*", "/v2/{path:.*}", self._dispatch)
        return app

    # -- plumbing ----------------------------------------------------------------------------------------
    @web.middleware
    async def _log_and_answer_errors(self, request: web.Request, handler) -> web.StreamResponse:
        """Every error as the spec's JSON, and one line per request on stderr."""
        start = time.perf_counter()
        try:
            response = await handler(request)
        except RegistryError as e:
            response = e.response()
        except ConnectionError:  # reading the request or writing the answer: the client went away
            response = client_closed()
        except BodyTimeout as e:
            response = await answer_and_close(request, RegistryError(408, "REQUEST_TIMEOUT", str(e)).response())
        except web.HTTPRequestEntityTooLarge:
            response = RegistryError(413, "SIZE_INVALID", f"a push may send at most {MAX_BLOB} bytes").response()
        except web.HTTPNotFound:
            response = RegistryError(404, "NOT_FOUND", f"no such endpoint {request.path} (the API is under /v2/)"
                                     ).response()
        except Exception as e:  # a bug or a failing disk: the server's log gets the traceback, the client JSON
            traceback.print_exc()
            response = RegistryError(500, "UNKNOWN", f"the registry failed: {type(e).__name__}: {e}").response()
        print(f'{request.remote} "{request.method} {request.path_qs}" {response.status} '
              f"{response.content_length or 0} {1000 * (time.perf_counter() - start):.1f}ms",
              file=sys.stderr, flush=True)
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if path == "":
            if request.method not in ("GET", "HEAD"):
                raise RegistryError(405, "UNSUPPORTED", f"{request.method} /v2/ is not supported")
            return web.json_response({}, headers=API_VERSION)
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match:
                if request.method not in methods:
                    raise RegistryError(405, "UNSUPPORTED", f"{request.method} is not supported here; "
                                        f"use {', '.join(methods)}", {"Allow": ", ".join(methods)})
                fields = match.groupdict()
                name = fields.pop("name")
                try:
                    check_name(name)
                except StoreError as e:
                    raise RegistryError(400, "NAME_INVALID", str(e)) from None
                if request.method in ("POST", "PUT"):
                    self._authorize(request, name)
                return await getattr(self, methods[request.method])(request, name, **fields)
        raise RegistryError(404, "NOT_FOUND", f"no such endpoint /v2/{path}")

    def _authorize(self, request: web.Request, name: str) -> None:
        """With a token, pushing needs `Authorization: Bearer TOKEN`; pulling never does."""
        if self.token is None:
            return
        if not bearer_matches(request, self.token):
            challenge = f'Bearer realm="vm registry",scope="repository:{name}:push"'
            raise RegistryError(401, "UNAUTHORIZED", "the token was refused" if "Authorization" in request.headers
                                else "pushing to this registry needs its token", {"WWW-Authenticate": challenge})

    def _repository(self, name: str) -> dict | None:
        try:
            return json.loads((self.repositories / name / "_index.json").read_text())
        except FileNotFoundError:
            return None

    def _known_repository(self, name: str) -> dict:
        repository = self._repository(name)
        if repository is None:
            raise RegistryError(404, "NAME_UNKNOWN", f"no repository {name} in this registry")
        return repository

    @staticmethod
    def _digest(text: str) -> str:
        try:
            return check_digest(text)
        except StoreError as e:
            raise RegistryError(400, "DIGEST_INVALID", str(e)) from None

    # -- blobs ---------------------------------------------------------------------------------------------
    async def get_blob(self, request: web.Request, name: str, digest: str) -> web.Response:
        path = self.store.blob_path(self._digest(digest))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RegistryError(404, "BLOB_UNKNOWN", f"no blob {digest} in this registry") from None
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={**API_VERSION, "Docker-Content-Digest": digest})

    async def start_upload(self, request: web.Request, name: str) -> web.Response:
        upload = uuid.uuid4().hex
        self.uploads[upload] = name
        while len(self.uploads) > MAX_UPLOADS:
            self.uploads.popitem(last=False)
        return web.Response(status=202, headers={**API_VERSION, "Location": f"/v2/{name}/blobs/uploads/{upload}",
                                                 "Docker-Upload-UUID": upload, "Range": "0-0"})

    async def put_upload(self, request: web.Request, name: str, upload: str) -> web.Response:
        """Finish a monolithic upload: the bytes are stored only if they match ?digest=."""
        if self.uploads.pop(upload, None) != name:
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", f"no upload {upload} in progress for {name}")
        digest = self._digest(request.query.get("digest", ""))
        data = await read_body(request)
        if digest_of(data) != digest:
            raise RegistryError(400, "DIGEST_INVALID", f"the {len(data)} bytes received do not match {digest}; "
                                "nothing was stored")
        self.store.put_blob(data, digest)
        return web.Response(status=201, headers={**API_VERSION, "Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest})

    # -- manifests -----------------------------------------------------------------------------------------
    async def get_manifest(self, request: web.Request, name: str, reference: str) -> web.Response:
        repository = self._known_repository(name)
        if reference.startswith("sha256:"):
            digest = self._digest(reference)
            if digest not in repository["manifests"]:
                raise RegistryError(404, "MANIFEST_UNKNOWN", f"no manifest {digest} in {name}")
        elif reference in repository["tags"]:
            digest = repository["tags"][reference]
        else:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"no tag {reference} in {name}")
        try:
            data = self.store.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"manifest {digest} of {name} is missing") from None
        return web.Response(body=data, headers={**API_VERSION, "Content-Type": MANIFEST_TYPE,
                                                "Docker-Content-Digest": digest})

    async def put_manifest(self, request: web.Request, name: str, reference: str) -> web.Response:
        """Store a manifest under a tag (or its own digest), once it is an image manifest whose blobs are here."""
        if not reference.startswith("sha256:"):
            try:
                check_tag(reference)
            except StoreError as e:
                raise RegistryError(400, "TAG_INVALID", str(e)) from None
        data = await read_body(request)
        digest = digest_of(data)
        if reference.startswith("sha256:") and self._digest(reference) != digest:
            raise RegistryError(400, "DIGEST_INVALID", f"the manifest's digest is {digest}, not {reference}")
        try:
            manifest = from_json(data)  # bounded in depth, unlike json.loads, and in the size of its numbers
        except ValueError as e:
            raise RegistryError(400, "MANIFEST_INVALID", f"the manifest is not JSON: {e}") from None
        try:
            check_manifest(manifest)
        except StoreError as e:
            raise RegistryError(400, "MANIFEST_INVALID", str(e)) from None
        if manifest.get("mediaType", MANIFEST_TYPE) != MANIFEST_TYPE:
            raise RegistryError(400, "MANIFEST_INVALID", f"this registry takes {MANIFEST_TYPE} manifests only")
        for descriptor in [manifest["config"], *manifest["layers"]]:
            path = self.store.blob_path(descriptor["digest"])
            if not path.is_file():
                raise RegistryError(400, "MANIFEST_BLOB_UNKNOWN",
                                    f"blob {descriptor['digest']} is not in this registry; push it first")
            if path.stat().st_size != descriptor["size"]:
                raise RegistryError(400, "MANIFEST_INVALID", f"blob {descriptor['digest']} is "
                                    f"{path.stat().st_size} bytes, the manifest says {descriptor['size']}")
        self.store.put_blob(data, digest)
        repository = self._repository(name) or {"tags": {}, "manifests": []}
        if digest not in repository["manifests"]:
            repository["manifests"].append(digest)
        if not reference.startswith("sha256:"):
            repository["tags"][reference] = digest
        write_atomically(self.repositories / name / "_index.json", (json.dumps(repository, indent=2) + "\n").encode())
        return web.Response(status=201, headers={**API_VERSION, "Location": f"/v2/{name}/manifests/{digest}",
                                                 "Docker-Content-Digest": digest})

    async def list_tags(self, request: web.Request, name: str) -> web.Response:
        return web.json_response({"name": name, "tags": sorted(self._known_repository(name)["tags"])},
                                 headers=API_VERSION)


def serve(root: Path, host: str, port: int, token: str | None, client_timeout: float = CLIENT_SECONDS) -> int:
    """Serve until SIGINT or SIGTERM; the first line on stdout says where it listens."""
    if token == "":
        raise ContainerError("--token must not be empty")
    registry = Registry(root, token)
    with open(registry.store.root / ".registry.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ContainerError(f"another registry already serves {registry.store.root}") from None
        return asyncio.run(_serve(registry.app(), host, port, client_timeout))


async def _serve(app: web.Application, host: str, port: int, client_timeout: float) -> int:
    runner = GuardedRunner(app, client_timeout)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as e:
            raise ContainerError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        bound = runner.addresses[0][1]
        print(f"registry listening on http://{f'[{host}]' if ':' in host else host}:{bound}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0

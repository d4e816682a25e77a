"""`vm push` and `vm pull`: the client side of the registry's OCI distribution API, over httpx.

Pull stages every blob in memory and checks each digest and size before it writes any of them, so a
tampered or truncated blob leaves the store exactly as it was."""

from __future__ import annotations

import json

import httpx

from vm.containers.errors import ContainerError
from vm.containers.store import (
    MANIFEST_TYPE,
    ImageStore,
    Reference,
    StoreError,
    blob_digests,
    check_manifest,
    digest_of,
)

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class DistributionError(ContainerError):
    """A push or pull the registry refused, or a registry that could not be reached."""


def push(store: ImageStore, reference: str, registry_url: str, token: str | None) -> str:
    """Send the image's blobs the registry lacks (asked with HEAD), then its manifest under its tag."""
    ref = Reference.parse(reference)
    if ref.digest:
        raise DistributionError(f"push needs NAME:TAG, not a digest: {reference}")
    manifest_digest = store.resolve(str(ref))
    manifest_bytes = store.blob(manifest_digest)
    manifest = json.loads(manifest_bytes)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sent = skipped = 0
    with _client(registry_url, headers) as client:
        for digest in blob_digests(manifest):
            if _request(client, "HEAD", f"/v2/{ref.name}/blobs/{digest}", ok=(200, 404)).status_code == 200:
                skipped += 1
                continue
            started = _request(client, "POST", f"/v2/{ref.name}/blobs/uploads/", ok=(202,))
            _request(client, "PUT", started.headers["Location"], ok=(201,), params={"digest": digest},
                     content=store.blob(digest), headers={"Content-Type": "application/octet-stream"})
            sent += 1
        _request(client, "PUT", f"/v2/{ref.name}/manifests/{ref.tag}", ok=(201,), content=manifest_bytes,
                 headers={"Content-Type": MANIFEST_TYPE})
    return f"pushed {ref} ({manifest_digest[:19]}) to {registry_url}: {sent} blobs sent, {skipped} already there"


def pull(store: ImageStore, reference: str, registry_url: str) -> str:
    """Fetch the manifest and all its blobs, check every digest and size, then install and tag."""
    ref = Reference.parse(reference)
    target = ref.digest or ref.tag
    with _client(registry_url, {}) as client:
        response = _request(client, "GET", f"/v2/{ref.name}/manifests/{target}", ok=(200,),
                            headers={"Accept": MANIFEST_TYPE})
        manifest_bytes = response.content
        manifest_digest = digest_of(manifest_bytes)
        if ref.digest and manifest_digest != ref.digest:
            raise DistributionError(f"the registry's manifest for {ref} has digest {manifest_digest}")
        served_as = response.headers.get("Docker-Content-Digest")
        if served_as and served_as != manifest_digest:
            raise DistributionError(f"the registry's manifest for {ref} does not match its digest {served_as} "
                                    "(tampered or damaged on the registry): nothing was installed")
        try:
            manifest = json.loads(manifest_bytes)
            check_manifest(manifest)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DistributionError(f"the registry's manifest for {ref} is not JSON: {e}") from None
        except StoreError as e:
            raise DistributionError(f"the registry's manifest for {ref} is refused: {e}") from None
        descriptors = [manifest["config"], *manifest["layers"]]
        staged: dict[str, bytes] = {}
        fetched = 0
        for descriptor in descriptors:
            digest = descriptor["digest"]
            if digest in staged:
                continue
            if store.has_blob(digest):
                staged[digest] = store.blob(digest)
            else:
                staged[digest] = _request(client, "GET", f"/v2/{ref.name}/blobs/{digest}", ok=(200,)).content
                fetched += 1
            data = staged[digest]
            if len(data) != descriptor["size"]:
                raise DistributionError(f"blob {digest} of {ref} is {len(data)} bytes, the manifest says "
                                        f"{descriptor['size']}: nothing was installed")
            if digest_of(data) != digest:
                raise DistributionError(f"blob {digest} of {ref} does not match its digest (tampered or "
                                        "damaged on the registry): nothing was installed")
    for digest, data in staged.items():
        store.put_blob(data, digest)
    store.put_blob(manifest_bytes, manifest_digest)
    if ref.tag:
        store.tag(manifest_digest, ref)
    return f"pulled {ref} ({manifest_digest[:19]}) from {registry_url}: {fetched} blobs fetched"


def _client(registry_url: str, headers: dict[str, str]) -> httpx.Client:
    if not registry_url.startswith(("http://", "https://")):
        raise DistributionError(f"the registry URL {registry_url!r} must start with http:// or https://")
    return httpx.Client(base_url=registry_url.rstrip("/"), headers=headers, timeout=TIMEOUT)


def _request(client: httpx.Client, method: str, url: str, ok: tuple[int, ...], **kwargs) -> httpx.Response:
    """One bounded request; a refused connection, a timeout or an unexpected status is one clear line."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise DistributionError(f"the registry at {client.base_url} did not answer in time") from None
    except httpx.TransportError as e:
        raise DistributionError(f"cannot reach the registry at {client.base_url}: {e or type(e).__name__}; "
                                "is `vm registry serve` running there?") from None
    if response.status_code in ok:
        return response
    raise DistributionError(f"the registry refused {method} {url.split('?')[0]}: {response.status_code} "
                            f"{_reason(response)}")


def _reason(response: httpx.Response) -> str:
    try:
        errors = response.json()["errors"]
        return "; ".join(f"{e['code']}: {e['message']}" for e in errors)
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase

"""The image commands of `vm`: image build/ls/inspect/rm/tag/save/load, registry serve, push, pull.

Only argparse is imported here: the CLI builds its parser on every `vm run`, so the store, the
registry and httpx are imported by the handlers that use them.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from vm.arguments import parse_timeout
from vm.containers import CLIENT_SECONDS

REF_HELP = "NAME:TAG, a digest (sha256:...) or the start of one"
RM_HELP = "remove references (NAME:TAG, or a digest: all its tags); unreachable blobs go"


def add_commands(command) -> None:
    """Add this module's subcommands through the CLI's `command(name, func, help)` factory."""
    images = command("image", _needs_subcommand, "build, list, inspect, tag, remove, save and load images")
    sub = images.add_subparsers(dest="image_command", metavar="SUBCOMMAND")

    p = _sub(sub, "build", cmd_build, "build an image from a directory holding a vmfile.toml")
    p.add_argument("directory", metavar="DIR", help="the directory with the vmfile.toml and the files it names")
    p.add_argument("-t", "--tag", required=True, metavar="NAME:TAG", help="the reference to store it under")
    _ls_options(_sub(sub, "ls", cmd_ls, "list the images in the store"))
    p = _sub(sub, "inspect", cmd_inspect, "print an image's digest, references, manifest, config and size as JSON")
    p.add_argument("reference", metavar="REF", help=REF_HELP)
    _rm_options(_sub(sub, "rm", cmd_rm, RM_HELP))
    p = _sub(sub, "tag", cmd_tag, "give an image another reference")
    p.add_argument("source", metavar="SRC", help="the image: " + REF_HELP)
    p.add_argument("target", metavar="DST", help="its new NAME:TAG")
    p = _sub(sub, "save", cmd_save, "write images to a tar file (an OCI layout), or to standard output")
    p.add_argument("references", nargs="+", metavar="REF", help=REF_HELP)
    p.add_argument("-o", "--output", metavar="FILE.tar", help="the tar file to write (default: standard output, "
                   "if it is not a terminal)")
    p = _sub(sub, "load", cmd_load, "add the images of a tar file made by `vm image save`")
    p.add_argument("file", nargs="?", metavar="FILE.tar", help="a tar file written by vm image save (default: -i's)")
    p.add_argument("-i", "--input", metavar="FILE.tar", help="the tar file, as Docker's load -i (default: standard "
                   "input)")

    registry = command("registry", _needs_subcommand, "serve images over HTTP (the OCI distribution API)")
    sub = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    p = sub.add_parser("serve", help="run a registry server until interrupted",
                       description="run a registry server until interrupted (SIGINT or SIGTERM)")
    p.set_defaults(func=cmd_serve, usage_of=p)
    p.add_argument("--port", type=int, required=True, metavar="N", help="TCP port; 0 picks a free one")
    p.add_argument("--root", required=True, metavar="DIR", help="where the registry keeps its blobs and tags")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--token", metavar="T", help="require `Authorization: Bearer T` to push (pulls stay open)")
    p.add_argument("--client-timeout", type=parse_timeout, default=CLIENT_SECONDS, metavar="SECONDS",
                   help="a client that sends nothing of its request for this long is cut off (default: 10)")

    p = command("images", cmd_ls, "list the images in the store (vm image ls)")
    _ls_options(p)
    _images_option(p)
    p = command("rmi", cmd_rm, RM_HELP + " (vm image rm)")
    _rm_options(p)
    _images_option(p)

    p = command("push", cmd_push, "send an image to a registry (only the blobs it lacks)")
    p.add_argument("reference", metavar="[HOST:PORT/]NAME:TAG",
                   help="the image in the store, pushed under the same NAME:TAG; HOST:PORT/ names the registry")
    _registry_options(p)
    p.add_argument("--token", default=os.environ.get("VM_REGISTRY_TOKEN"), metavar="T",
                   help="the registry's push token (default: $VM_REGISTRY_TOKEN)")
    p = command("pull", cmd_pull, "fetch an image from a registry, every digest checked")
    p.add_argument("reference", metavar="[HOST:PORT/]NAME:TAG",
                   help="the image in the registry, stored under the same NAME:TAG; HOST:PORT/ names the registry")
    _registry_options(p)


def _sub(sub, name: str, func, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func, usage_of=p)
    _images_option(p)
    return p


def _ls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="only the digests (short), one a line")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="a table, or one JSON object a line (default: table)")


def _rm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("references", nargs="+", metavar="REF", help=REF_HELP)


def _images_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", metavar="DIR",
                   help="the image store (default: $VM_IMAGES, else ~/.local/share/vm/images)")


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", metavar="URL",
                   help="the registry, as http://HOST:PORT (default: the reference's HOST:PORT/, else $VM_REGISTRY)")
    _images_option(p)


def _needs_subcommand(args: argparse.Namespace) -> int:
    from vm.containers.errors import ContainerError

    raise ContainerError(f"`vm {args.command}` needs a subcommand; `vm {args.command} --help` lists them")


def _store(args: argparse.Namespace):
    from vm.containers.store import ImageStore

    return ImageStore(args.images)


def _size(n: int) -> str:
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


# -- image ---------------------------------------------------------------------------------------------
def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vm.containers.image import build_image
    from vm.containers.store import Reference

    digest = build_image(Path(args.directory), args.tag, _store(args))
    print(f"built {Reference.parse(args.tag)} {digest}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    import json

    from vm.containers.store import StoreError

    store = _store(args)
    images = []
    for ref, digest in sorted(store.references().items()):
        try:
            manifest = store.json_blob(digest)
            config = store.json_blob(manifest["config"]["digest"])
            size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
            images.append({"reference": ref, "digest": digest, "mode": config.get("mode"), "size": size,
                           "created": config.get("created")})
        except (StoreError, KeyError, TypeError) as e:
            images.append({"reference": ref, "digest": digest, "mode": "damaged", "size": None, "created": None,
                           "error": str(e)})
    if args.quiet or args.format == "json":
        for image in images:
            print(image["digest"][7:19] if args.quiet else json.dumps(image))
        return 0
    rows = [("REFERENCE", "DIGEST", "MODE", "SIZE", "CREATED")]
    rows += [(i["reference"], i["digest"][7:19], str(i["mode"]), _size(i["size"]) if i["size"] is not None else "-",
              i.get("error") or str(i["created"])) for i in images]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for *cells, last in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + last)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from vm.containers.image import read_image

    store = _store(args)
    image = read_image(store, args.reference)
    references = sorted(ref for ref, digest in store.references().items() if digest == image.digest)
    print(json.dumps({"digest": image.digest, "references": references, "manifest": image.manifest,
                      "config": image.config, "size": image.size}, indent=2))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    import re

    from vm.containers.store import Reference, StoreError

    store = _store(args)
    for text in args.references:
        named = store.references()
        ref = Reference.parse(text) if not re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", text) else None
        if ref is None and f"{text}:latest" in named:  # a name that looks like a digest prefix
            ref = Reference.parse(text)
        if ref is not None and not ref.digest:
            refs = [str(ref)]
        else:  # a digest, a prefix of one, or NAME@DIGEST: every tag on that image (of that name)
            digest = store.resolve(text)
            refs = [r for r, d in named.items() if d == digest and (ref is None or Reference.parse(r).name == ref.name)]
            if not refs:
                raise StoreError(f"no reference in the store names {text}")
        for name in refs:
            store.untag(name)
            print(f"untagged {name}")
    removed = store.collect_garbage()
    if removed:
        print(f"deleted {removed} blob{'s' if removed != 1 else ''}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    store = _store(args)
    store.tag(store.resolve(args.source), args.target)
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vm.containers.errors import ContainerError
    from vm.containers.image import save_images

    if args.output is None:
        if sys.stdout.isatty():
            raise ContainerError("vm image save writes a tar file: give -o FILE.tar, or send standard output "
                                 "elsewhere than a terminal")
        tar = io.BytesIO()  # a tar file is written with seeks, which a pipe has not
        save_images(_store(args), args.references, tar)
        sys.stdout.buffer.write(tar.getvalue())
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.output)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with open(partial, "wb") as f:
            save_images(_store(args), args.references, f)
        os.replace(partial, out)
    except OSError as e:
        raise ContainerError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        partial.unlink(missing_ok=True)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vm.containers.errors import ContainerError
    from vm.containers.image import load_images

    if args.file and args.input:
        raise ContainerError("give the tar file once: FILE.tar or -i FILE.tar")
    source = args.file or args.input
    if source is None:
        if sys.stdin.isatty():
            raise ContainerError("vm image load reads a tar file: give -i FILE.tar, or send it to standard input")
        source = io.BytesIO(sys.stdin.buffer.read())
    for ref in load_images(_store(args), Path(source) if isinstance(source, str) else source):
        print(f"loaded {ref}")
    return 0


# -- registry ------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vm.containers.registry import serve

    return serve(Path(args.root), args.host, args.port, args.token, args.client_timeout)


def _registry(args: argparse.Namespace) -> tuple[str, str]:
    """The registry's URL and the image's NAME:TAG. As in Docker, a first part with a '.' or a ':' (or
    localhost) is the registry's HOST[:PORT]: `127.0.0.1:5000/upper:1` is upper:1 at that registry."""
    from vm.containers.errors import ContainerError

    first, slash, rest = args.reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        named = f"http://{first}"
        if args.registry and args.registry.rstrip("/") != named:
            raise ContainerError(f"{args.reference} names the registry {named}, --registry says {args.registry}: "
                                 "give one")
        return named, rest
    registry = args.registry or os.environ.get("VM_REGISTRY")
    if not registry:
        raise ContainerError("which registry? name it in the reference (127.0.0.1:5000/NAME:TAG), give --registry "
                             "URL (as http://127.0.0.1:5000) or set VM_REGISTRY")
    return registry, args.reference


def cmd_push(args: argparse.Namespace) -> int:
    from vm.containers.distribution import push

    registry, reference = _registry(args)
    print(push(_store(args), reference, registry, args.token))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from vm.containers.distribution import pull

    registry, reference = _registry(args)
    print(pull(_store(args), reference, registry))
    return 0

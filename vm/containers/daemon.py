"""`vm daemon`: runs containers from the image store and serves the HTTP/JSON API of docs/daemon-api.md.

Each container's guest runs in its own caged host process (the `--isolate` cage, or os's), started
and watched by a thread of the daemon. Its output goes to the log writer, which stores it in batches
off the event loop (vm/containers/state.py, SQLite) and wakes the clients that follow it; its end comes
back to the loop after its output, and the loop alone writes the containers' state. The event loop never
waits on a guest: a chatty one costs it a page of logs read per follower now and then.
The API listens on a unix socket of mode 0600 and, with a token, on a loopback TCP port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vm.arch.vm64.image import ImageError
from vm.containers import CLIENT_SECONDS, api
from vm.containers.errors import ContainerError
from vm.containers.image import RunConfig, StoredImage, read_image
from vm.containers.serving import (
    BodyTimeout,
    GuardedRunner,
    answer_and_close,
    bearer_matches,
    client_closed,
    read_body,
)
from vm.containers.state import STREAMS, Container, ContainerState, LogWriter, StateError, default_root
from vm.containers.store import ImageStore, StoreError
from vm.elf import ElfError
from vm.isa import IsaError
from vm.isolate_linux import run_executable_isolated
from vm.machine import LoadError
from vm.monitor.cage import Attachment, Limits
from vm.run import exit_status, outcome_message, run_image

DEFAULT_OUTPUT_LIMIT = 16 << 20  # a container's output is stored: without a limit of its own, this one
SHUTDOWN_SECONDS = 10.0
LOG_PAGE_ROWS = 16  # rows of logs read and written in one step of the loop (a row is at most 1 MiB)
MAX_SOCKET_PATH = 107  # bytes in sockaddr_un.sun_path, less the terminating zero


class ApiError(Exception):
    """An error answer: {"error": {"code", "message"}} with its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.code, "message": self.message}}, status=self.status)


@dataclass
class Running:
    """A started container: the handles its thread shares with the event loop."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    process: subprocess.Popen | None = None
    requested: int | None = None  # the last signal asked for (sent as soon as the process exists)
    stopped_by: str | None = None  # "stop", "kill" or "daemon"
    final: dict | None = None  # the container as it ended (it may be removed by then)
    output: asyncio.Event = field(default_factory=asyncio.Event)  # set, and replaced, as output is stored or it ends

    def started(self, process: subprocess.Popen) -> None:
        """Called by the container's thread once the guest process runs."""
        self.process = process
        if self.requested is not None:
            self._send(self.requested)

    def signal(self, sig: int, by: str) -> None:
        self.stopped_by = self.stopped_by or by
        self.requested = sig
        if self.process is not None:
            self._send(sig)

    def _send(self, sig: int) -> None:
        """To the guest's process group (the cage's relay and the guest it forked): while its leader is not
        reaped, the group's id is not anyone else's."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)


class Daemon:
    """The containers, their guests' threads and the API's handlers."""

    def __init__(self, root: Path, images: ImageStore, token: str | None) -> None:
        self.root, self.images, self.token = root, images, token
        self.state = ContainerState(root / "state.db")
        self.lost = self.state.mark_lost()
        self.work = root / "containers"
        self.cages = root / "cages"  # the guests' working directories: a killed daemon's are cleared here
        shutil.rmtree(self.cages, ignore_errors=True)
        self.cages.mkdir(mode=0o700)
        self.running: dict[str, Running] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.log_writer = LogWriter(root / "state.db", self._from_log_writer)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20, middlewares=[self._log_and_answer_errors])
        r = app.router
        r.add_get("/v1/version", self.version)
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_get("/v1/containers", self.list_containers)
        r.add_post("/v1/containers", self.create)
        r.add_get("/v1/containers/{ref}", self.inspect)
        r.add_delete("/v1/containers/{ref}", self.remove)
        r.add_post("/v1/containers/{ref}/start", self.start)
        r.add_post("/v1/containers/{ref}/stop", self.stop)
        r.add_post("/v1/containers/{ref}/kill", self.kill)
        r.add_post("/v1/containers/{ref}/wait", self.wait)
        r.add_get("/v1/containers/{ref}/logs", self.logs)
        return app

    # -- plumbing ----------------------------------------------------------------------------------------
    @web.middleware
    async def _log_and_answer_errors(self, request: web.Request, handler) -> web.StreamResponse:
        """The token on TCP, every error as JSON, and one line per request on stderr."""
        start = time.perf_counter()
        try:
            self._authorize(request)
            response = await handler(request)
        except ApiError as e:
            response = e.response()
        except ConnectionError:  # reading the request or writing the answer: the client went away
            response = client_closed()
        except BodyTimeout as e:
            response = await answer_and_close(request, ApiError(408, "REQUEST_TIMEOUT", str(e)).response())
        except web.HTTPException as e:  # aiohttp's own: no such route, wrong method, body too large
            response = ApiError(e.status, e.reason.upper().replace(" ", "_"), f"{request.method} {request.path}: "
                                f"{e.reason}; the API is in docs/daemon-api.md").response()
        except Exception as e:  # a bug: the daemon's log gets the traceback, the client one line
            traceback.print_exc()
            response = ApiError(500, "INTERNAL", f"the daemon failed: {type(e).__name__}: {e}").response()
        print(f'"{request.method} {request.path_qs}" {response.status} {1000 * (time.perf_counter() - start):.1f}ms',
              file=sys.stderr, flush=True)
        return response

    def _authorize(self, request: web.Request) -> None:
        """Over TCP every request needs `Authorization: Bearer TOKEN`; the unix socket's mode guards it."""
        if not isinstance(request.transport.get_extra_info("sockname"), tuple):
            return
        if not bearer_matches(request, self.token):
            raise ApiError(401, "UNAUTHORIZED", "the token was refused" if "Authorization" in request.headers
                           else "this daemon's TCP port needs its token")

    def _find(self, ref: str) -> Container:
        found = self.state.find(ref)
        if not found:
            raise ApiError(404, "NO_SUCH_CONTAINER", f"no container {ref!r} (`vm ps -a` lists them)")
        if len(found) > 1:
            raise ApiError(409, "AMBIGUOUS", f"{ref!r} is the start of {len(found)} containers' ids; give more of it")
        return found[0]

    @staticmethod
    async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
        """The request's body as `model` has it, or a 400 that says what in it is wrong."""
        try:
            return model.model_validate_json(await read_body(request))
        except ValidationError as e:
            raise ApiError(400, "BAD_REQUEST", api.problem(e)) from None

    @staticmethod
    def _query(request: web.Request, model: type[BaseModel]) -> BaseModel:
        try:
            return model.model_validate(dict(request.query))
        except ValidationError as e:
            raise ApiError(400, "BAD_REQUEST", api.problem(e, in_query=True)) from None

    # -- handlers ----------------------------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("vm")
        except PackageNotFoundError:  # run from a source tree
            installed = "source"
        return web.json_response({"api": api.API_VERSION, "version": installed, "images": str(self.images.root),
                                  "running": len(self.running)})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(api.openapi())

    async def list_containers(self, request: web.Request) -> web.Response:
        every = self._query(request, api.ListQuery).all
        return web.json_response([c.to_json() for c in self.state.all() if every or c.status == "running"])

    async def inspect(self, request: web.Request) -> web.Response:
        return web.json_response(self._find(request.match_info["ref"]).to_json())

    async def create(self, request: web.Request) -> web.Response:
        body = await self._body(request, api.CreateRequest)
        reference = body.image
        try:
            digest = self.images.resolve(reference)
        except StoreError as e:
            raise ApiError(404, "NO_SUCH_IMAGE", f"{e} (the daemon's store is {self.images.root})") from None
        image = self._read_image(digest, reference)
        settings = _settings(image.run, body, reference)
        container_id = uuid.uuid4().hex
        name = body.name or f"{reference.split('@')[0].split(':')[0].rsplit('/', 1)[-1]}-{container_id[:6]}"
        if self.state.name_taken(name):
            raise ApiError(409, "NAME_TAKEN", f"a container is already named {name!r}; remove it or pick another")
        self.state.create(container_id, name, reference, digest, settings)
        return web.json_response(self.state.get(container_id).to_json(), status=201)

    def _read_image(self, digest: str, reference: str) -> StoredImage:
        try:
            return read_image(self.images, digest)
        except StoreError as e:
            raise ApiError(409, "IMAGE_DAMAGED", f"image {reference} cannot be run: {e}") from None

    async def start(self, request: web.Request) -> web.StreamResponse:
        container = self._find(request.match_info["ref"])
        if container.status != "created":
            raise ApiError(409, "NOT_CREATED", f"container {container.name} is {container.status}; a container "
                           "starts once (create another from its image)")
        image = self._read_image(container.digest, container.image)
        running = self.running[container.id] = Running()
        self.state.started(container.id)
        threading.Thread(target=self._run_guest, args=(container.id, image, container.settings, running),
                         name=f"container-{container.id[:12]}", daemon=True).start()
        if self._query(request, api.StartQuery).attach:
            return await self._stream_logs(request, container.id, 0, follow=True)
        return web.json_response(self.state.get(container.id).to_json())

    async def stop(self, request: web.Request) -> web.Response:
        grace = self._query(request, api.StopQuery).timeout
        container = self._find(request.match_info["ref"])
        running = self._running(container)
        if running is None:
            return web.json_response(container.to_json())
        running.signal(signal.SIGTERM, "stop")
        try:
            await asyncio.wait_for(running.done.wait(), grace)
        except TimeoutError:
            running.signal(signal.SIGKILL, "stop")
            await running.done.wait()
        return web.json_response(running.final)

    async def kill(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["ref"])
        name = self._query(request, api.KillQuery).signal
        running = self._running(container)
        if running is None:
            raise ApiError(409, "NOT_RUNNING", f"container {container.name} is {container.status}, not running")
        running.signal(signal.Signals[f"SIG{name}"], "kill")
        await running.done.wait()
        return web.json_response(running.final)

    async def wait(self, request: web.Request) -> web.Response:
        container = self._find(request.match_info["ref"])
        running = self._running(container)
        if running is None:
            return web.json_response(container.to_json())
        await running.done.wait()
        return web.json_response(running.final)

    def _running(self, container: Container) -> Running | None:
        if container.status == "created":
            raise ApiError(409, "NOT_STARTED", f"container {container.name} has not been started")
        return self.running.get(container.id)

    async def remove(self, request: web.Request) -> web.Response:
        force = self._query(request, api.RemoveQuery).force
        container = self._find(request.match_info["ref"])
        running = self.running.get(container.id)
        if running is not None:
            if not force:
                raise ApiError(409, "RUNNING", f"container {container.name} is running; stop it first "
                               "(`vm stop`), or remove it with force (`vm rm -f`)")
            running.signal(signal.SIGKILL, "kill")
            await running.done.wait()
        self._forget(container.id)
        return web.json_response({"removed": container.id, "name": container.name})

    def _forget(self, container_id: str) -> None:
        self.state.remove(container_id)
        shutil.rmtree(self.work / container_id, ignore_errors=True)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = self._query(request, api.LogsQuery)
        container = self._find(request.match_info["ref"])
        return await self._stream_logs(request, container.id, query.after, follow=query.follow)

    async def _stream_logs(self, request: web.Request, container_id: str, after: int, follow: bool
                           ) -> web.StreamResponse:
        """NDJSON: the stored chunks after `after`, a page at a time, then (following a running container)
        the new ones as the log writer stores them, until the guest ends; then the container. A page is
        read and the wait for more begins in one step of the loop: nothing is missed or sent twice."""
        running = self.running.get(container_id) if follow else None
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            while True:
                stored = running.output if running is not None else None  # taken before the read: set by a later store
                page = self.state.logs(container_id, after, LOG_PAGE_ROWS)
                if page:
                    after = page[-1][0]
                    await response.write(b"".join(_chunk_line(*row) for row in page))
                elif running is None or running.done.is_set():
                    break
                else:
                    await stored.wait()
            container = self.state.get(container_id)
            final = container.to_json() if container is not None else running.final if running is not None else None
            end = {"container": final} if final is not None else None
        except ConnectionError:
            raise  # the client went away: the middleware ends the request
        except Exception as e:  # the status is sent already: the stream's last line says what failed
            traceback.print_exc()
            end = {"error": {"code": "INTERNAL", "message": f"the daemon failed: {type(e).__name__}: {e}"}}
        if end is not None:
            await response.write((json.dumps(end) + "\n").encode())
        await response.write_eof()
        return response

    # -- the guests --------------------------------------------------------------------------------------
    def _run_guest(self, container_id: str, image: StoredImage, settings: dict, running: Running) -> None:
        """A container's thread: run the guest caged, pass its output and its end to the event loop."""
        limits = Limits(**settings["limits"])
        try:
            workdir = self.work / container_id
            workdir.mkdir(parents=True, exist_ok=True)
            attach = Attachment(functools.partial(self.log_writer.write, container_id), running.started, self.cages)
            if image.is_executable:
                result = run_executable_isolated(image.write_executable(workdir), image.run.args, mode=settings["mode"],
                                                 mem_limit=settings["memory"], fuel=settings["fuel"],
                                                 stdin=image.stdin, limits=limits, attach=attach)
            else:
                program, isa = image.load(workdir)
                result = run_image(program, settings["mode"], isa=isa, mem_size=settings["memory"],
                                   fuel=settings["fuel"], stdin=image.stdin, isolate=True, limits=limits,
                                   attach=attach, hold_memory=False)
            status, message = exit_status(result.outcome), outcome_message(result, limits)
            if running.stopped_by and result.outcome.limit == "killed":
                status = 128 + running.requested
                message = f"vm: stopped by {_STOPPED_BY[running.stopped_by]} ({signal.Signals(running.requested).name})"
            stats = {key: result.stats[key] for key in ("engine", "run_seconds", "compile_seconds", "cache", "cage",
                                                        "vm_exits", "hypercalls") if key in result.stats}
            ended = {"state": result.state(), "message": message, "stats": stats, "stopped_by": running.stopped_by}
        except (ContainerError, ImageError, LoadError, IsaError, ElfError, OSError) as e:
            status, ended = 2, {"message": f"vm: {e}", "stopped_by": running.stopped_by}
        except Exception as e:  # an engine bug: logged here, reported to the client
            traceback.print_exc()
            status, ended = 2, {"message": f"vm: the engine failed: {type(e).__name__}: {e}",
                                "stopped_by": running.stopped_by}
        self.log_writer.then(container_id, functools.partial(self._finished, container_id, status, ended))

    def _from_log_writer(self, containers: set[str], actions: list) -> None:
        """The log writer's thread: a batch is stored; the rest is the loop's."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: the daemon is ending
            self.loop.call_soon_threadsafe(self._stored, containers, actions)

    def _stored(self, containers: set[str], actions: list) -> None:
        for container_id in containers:
            running = self.running.get(container_id)
            if running is not None:  # its followers read on
                running.output.set()
                running.output = asyncio.Event()
        for action in actions:
            action()

    def _finished(self, container_id: str, status: int, ended: dict) -> None:
        self.state.finished(container_id, status, ended)
        container = self.state.get(container_id)
        running = self.running.pop(container_id)
        running.final = container.to_json()
        if container.settings["auto_remove"]:
            self._forget(container_id)
        running.done.set()
        running.output.set()  # its followers end

    async def shut_down(self) -> None:
        """Kill the running guests and record how each ended, within SHUTDOWN_SECONDS."""
        waiting = list(self.running.values())
        for running in waiting:
            running.signal(signal.SIGKILL, "daemon")
        if waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(r.done.wait() for r in waiting)), SHUTDOWN_SECONDS)


_STOPPED_BY = {"stop": "`vm stop`", "kill": "`vm kill`", "daemon": "the daemon's shutdown"}


def _chunk_line(seq: int, stream: int, data: bytes) -> bytes:
    """A line of the logs stream, as json.dumps would write it; put together directly, since base64 needs
    no escaping and json's encoder would scan every byte of it again."""
    return b'{"seq": %d, "stream": "%s", "data": "%s"}\n' % (seq, STREAMS[stream].encode(), base64.b64encode(data))


def _settings(config: RunConfig, body: api.CreateRequest, reference: str) -> dict:
    """How the container runs: the image's config, with what the request gives (a field given as null
    is no fuel or no limit), checked as a whole, since an image's config may come from anywhere."""
    limits = {name: getattr(config.limits, name) for name in api.LimitsRequest.model_fields}
    limits |= {name: getattr(body.limits, name) for name in body.limits.model_fields_set}
    if limits["output_bytes"] is None:
        limits["output_bytes"] = DEFAULT_OUTPUT_LIMIT
    settings = {"mode": body.mode or config.mode, "memory": body.memory or config.memory,
                "fuel": body.fuel if "fuel" in body.model_fields_set else config.fuel, "limits": limits,
                "auto_remove": body.auto_remove}
    try:
        return api.Settings.model_validate(settings).model_dump()
    except ValidationError as e:
        raise ApiError(409, "IMAGE_DAMAGED", f"image {reference} cannot be run: its config's {api.problem(e)}"
                       ) from None


# -- serving ---------------------------------------------------------------------------------------------
def serve(root: Path | None, socket_path: Path | None, tcp: str | None, token: str | None,
          images: Path | None, client_timeout: float = CLIENT_SECONDS) -> int:
    """Serve until SIGINT or SIGTERM; the first line on stdout says where it listens."""
    root = (Path(root) if root else default_root()).absolute()  # extension files are given by path
    socket_path = Path(socket_path) if socket_path else root / "daemon.sock"
    if len(str(socket_path).encode()) > MAX_SOCKET_PATH:
        raise ContainerError(f"the socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes; give a shorter "
                             "--socket")
    address = _tcp_address(tcp, token) if tcp else None
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / "daemon.lock", "a")  # noqa: SIM115 (held for the daemon's life)
    except OSError as e:
        raise ContainerError(f"cannot use {root} for the daemon's state: {e.strerror or e}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ContainerError(f"another daemon already keeps its state in {root}") from None
        try:
            daemon = Daemon(root, ImageStore(images), token)
        except StateError as e:
            raise ContainerError(str(e)) from None
        if daemon.lost:
            print(f"vm daemon: {len(daemon.lost)} container(s) were running when the daemon last stopped; "
                  "they are marked lost", file=sys.stderr, flush=True)
        try:
            return asyncio.run(_serve(daemon, socket_path, address, client_timeout))
        finally:
            daemon.log_writer.close()
            daemon.state.close()


def _tcp_address(tcp: str, token: str | None) -> tuple[str, int]:
    host, _, port = tcp.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        number = int(port)
    except ValueError:
        raise ContainerError(f"--tcp takes HOST:PORT on this machine's loopback, as 127.0.0.1:2375; not {tcp!r}"
                             ) from None
    if not loopback:
        raise ContainerError(f"--tcp {tcp}: the daemon runs programs for whoever reaches it; it listens on loopback "
                             "addresses only")
    if not token:
        raise ContainerError("--tcp needs --token (or $VM_DAEMON_TOKEN): every request over TCP must carry it")
    return host, number


async def _serve(daemon: Daemon, socket_path: Path, address: tuple[str, int] | None, client_timeout: float) -> int:
    daemon.loop = asyncio.get_running_loop()
    runner = GuardedRunner(daemon.app(), client_timeout)
    await runner.setup()
    try:
        socket_path.unlink(missing_ok=True)  # left by a daemon that was killed: this one holds the lock
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        umask = os.umask(0o177)
        try:
            await web.UnixSite(runner, str(socket_path)).start()
        except OSError as e:
            raise ContainerError(f"cannot listen on {socket_path}: {e.strerror or e}") from None
        finally:
            os.umask(umask)
        os.chmod(socket_path, 0o600)
        where = f"unix://{socket_path}"
        if address:
            try:
                await web.TCPSite(runner, *address).start()
            except OSError as e:
                raise ContainerError(f"cannot listen on {address[0]}:{address[1]}: {e.strerror or e}") from None
            host, port = next(a for a in runner.addresses if isinstance(a, tuple))[:2]
            where += f" and tcp://{host}:{port}"
        print(f"daemon listening on {where}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            daemon.loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await daemon.shut_down()
    finally:
        await runner.cleanup()
        socket_path.unlink(missing_ok=True)
    return 0

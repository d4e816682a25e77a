"""The daemon and its client, as a user runs them: `vm daemon` a real process on a temporary unix socket
and a loopback TCP port, `vm container run`, `vm ps`, `vm logs`... real processes talking to it.

What a container prints and how it ends are what `vm run` gives for the same program; twenty run at
once; a daemon killed with SIGKILL restarts with every container, its logs and its end, and marks
the ones it was running as lost; every mistake is one clear line.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from processes import Server, serve, stop

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "daemon-test-token"
REQUEST_SECONDS = 120  # every command of a test ends within this

HELLO = """\
main:   li   r1, 1
        la   r2, text
        li   r3, 6
        hcall 1             ; WRITE r3 bytes at r2 to stdout (r1)
        li   r1, 3
        hcall 0             ; EXIT 3
text:   .ascii "hello\\n"
"""
TRAP = "main: li r1, 0\n ld r2, [r1]\n halt\n"
TICKER = """\
; prints 1, 2, 3... one line per pause, forever
main:   li   r1, 0
loop:   addi r1, r1, 1
        out  1, r1
        li   r2, 10
        out  0, r2
        li   r3, 200000
pause:  subi r3, r3, 1
        bnez r3, pause
        jmp  loop
"""
PROGRAMS = {"hello": (HELLO, "os"), "hellohw": (HELLO, "hw"), "trap": (TRAP, "os"),
            "ticker": (TICKER, "os"), "tickerhw": (TICKER, "hw")}


def vm(*args, env: dict[str, str], timeout: float = REQUEST_SECONDS) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True, timeout=timeout,
                          env={**os.environ, **env})
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def ok(*args, env: dict[str, str]) -> str:
    proc = vm(*args, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """An image store with each of PROGRAMS built as NAME:1."""
    base = tmp_path_factory.mktemp("images")
    store = base / "store"
    for name, (source, mode) in PROGRAMS.items():
        directory = base / name
        directory.mkdir()
        (directory / f"{name}.asm").write_text(source)
        (directory / "vmfile.toml").write_text(f'program = "{name}.asm"\nmode = "{mode}"\n')
        ok("image", "build", directory, "-t", f"{name}:1", env={"VM_IMAGES": str(store)})
    return base


def start_daemon(root: Path, store: Path):
    """`vm daemon` on ROOT/d.sock and a free loopback port; the context manager stops it."""
    return serve(["daemon", "--root", str(root), "--socket", str(root / "d.sock"), "--tcp", "127.0.0.1:0",
                  "--token", TOKEN, "--images", str(store)], root.parent / f"{root.name}.log")


def client_env(server: Server, root: Path) -> dict[str, str]:
    assert server.ready_line.startswith(f"daemon listening on unix://{root / 'd.sock'} and tcp://127.0.0.1:")
    return {"VM_HOST": f"unix://{root / 'd.sock'}", "VM_DAEMON_TOKEN": ""}


def tcp_url(server: Server) -> str:
    return server.ready_line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def daemon(images, tmp_path_factory):
    root = tmp_path_factory.mktemp("daemon")
    with start_daemon(root, images / "store") as server:
        yield server, client_env(server, root)


def _wait_for_line(path_args, env, text: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out = ok(*path_args, env=env)
        if text in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in `vm {' '.join(path_args)}`")


# -- a container gives what `vm run` gives ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["hello", "hellohw", "trap"])
def test_an_attached_container_prints_and_ends_as_vm_run_does(daemon, images, name) -> None:
    _, env = daemon
    source, mode = PROGRAMS[name]
    direct = vm("run", images / name / f"{name}.asm", "--mode", mode, env={})
    contained = vm("container", "run", "--rm", f"{name}:1", env=env)
    assert (contained.stdout, contained.returncode) == (direct.stdout, direct.returncode)
    assert contained.stdout == (b"" if name == "trap" else b"hello\n")
    assert contained.stderr.decode().replace(f"{name}.asm", "X") == \
        direct.stderr.decode().replace(str(images / name / f"{name}.asm"), "X")
    assert f"{name}:1" not in ok("ps", "-a", env=env)  # --rm: gone once it ended


def test_the_socket_is_its_owners_alone(daemon, tmp_path_factory) -> None:
    _, env = daemon
    socket_path = Path(env["VM_HOST"][len("unix://"):])
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600


def test_a_detached_container_is_listed_followed_stopped_and_removed(daemon) -> None:
    _, env = daemon
    container = ok("container", "run", "-d", "--name", "tick", "ticker:1", env=env).strip()
    assert len(container) == 32
    listing = ok("ps", env=env)
    assert "tick " in listing and "running" in listing
    _wait_for_line(["logs", "tick"], env, "\n3\n")  # output reaches the logs while it runs
    follower = subprocess.Popen([sys.executable, "-m", "vm", "logs", "-f", container[:8]], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, **env})
    try:
        time.sleep(0.3)
        assert ok("stop", "-t", "5", "tick", env=env).strip() == "tick"
        out, err = follower.communicate(timeout=REQUEST_SECONDS)  # the follower ends with the container
    finally:
        stop(follower)
    assert follower.returncode == 0, err
    numbers = [int(n) for n in out.split()]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3  # all of it, in order, once
    inspected = json.loads(ok("inspect", "tick", env=env))
    assert inspected["status"] == "exited" and inspected["exit_status"] == 128 + signal.SIGTERM
    for key in ("created", "started", "finished"):  # as `vm image ls` gives an image's time
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", inspected[key]), inspected[key]
    assert inspected["result"]["message"] == "vm: stopped by `vm stop` (SIGTERM)"
    assert "exited (143)" in ok("ps", "-a", env=env)
    assert ok("logs", "tick", env=env).encode() == out  # the stored logs are what the follower saw
    assert ok("rm", "tick", env=env).strip() == "tick"
    assert "tick" not in ok("ps", "-a", env=env)


def test_kill_wait_and_rm_of_a_running_container(daemon) -> None:
    _, env = daemon
    ok("container", "run", "-d", "--name", "victim", "tickerhw:1", env=env)
    refused = vm("rm", "victim", env=env)
    assert refused.returncode == 2
    assert refused.stderr == b"vm: container victim is running; stop it first (`vm stop`), or remove it with force " \
                             b"(`vm rm -f`)\n"
    assert ok("kill", "victim", env=env).strip() == "victim"
    assert ok("wait", "victim", env=env).strip() == str(128 + signal.SIGKILL)
    assert json.loads(ok("inspect", "victim", env=env))["result"]["message"] == "vm: stopped by `vm kill` (SIGKILL)"
    ok("container", "run", "-d", "--name", "victim2", "ticker:1", env=env)
    assert ok("rm", "-f", "victim", "victim2", env=env).split() == ["victim", "victim2"]


def _attached_client(env: dict[str, str], *args: str) -> subprocess.Popen:
    """`vm container run ARGS`, attached, once the container has printed its first line (within 30 s)."""
    client = subprocess.Popen([sys.executable, "-m", "vm", "container", "run", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env={**os.environ, **env})
    with selectors.DefaultSelector() as selector:
        selector.register(client.stdout, selectors.EVENT_READ)
        if not selector.select(30) or client.stdout.readline() != b"1\n":
            stop(client, signal.SIGKILL)
            raise AssertionError(f"the attached container printed nothing: {client.stderr.read().decode()}")
    return client


@pytest.mark.parametrize("image", ["ticker:1", "tickerhw:1"])
def test_ctrl_c_on_an_attached_container_is_passed_on_to_it_and_waits_for_its_end(daemon, image) -> None:
    _, env = daemon
    name = f"interrupted-{image[:-2]}"
    client = _attached_client(env, "--name", name, image)
    try:
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=REQUEST_SECONDS)
    finally:
        stop(client)
    assert client.returncode == 128 + signal.SIGINT, err
    assert err.startswith(b"vm: passing SIGINT on to the container (Ctrl-C again sends SIGTERM)\n"), err
    assert err.endswith(b"vm: stopped by `vm kill` (SIGINT)\n") and b"Traceback" not in err, err
    inspected = json.loads(ok("inspect", name, env=env))
    assert inspected["status"] == "exited" and inspected["exit_status"] == 128 + signal.SIGINT
    ok("rm", name, env=env)


def test_ctrl_c_without_the_signal_proxy_detaches_and_the_container_runs_on(daemon) -> None:
    _, env = daemon
    client = _attached_client(env, "--name", "detached", "--sig-proxy=false", "ticker:1")
    try:
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=REQUEST_SECONDS)
    finally:
        stop(client)
    assert client.returncode == 130
    assert err.decode() == ("vm: detached from detached; it runs on (`vm logs -f detached` follows it, "
                            "`vm stop detached` stops it)\n")
    assert json.loads(ok("inspect", "detached", env=env))["status"] == "running"
    follower = subprocess.Popen([sys.executable, "-m", "vm", "logs", "-f", "detached"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, **env})
    try:
        assert follower.stdout.readline() == b"1\n"
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=REQUEST_SECONDS)
    finally:
        stop(follower)
    assert (follower.returncode, err) == (130, b"")  # Ctrl-C on logs -f stops following, nothing more
    assert json.loads(ok("inspect", "detached", env=env))["status"] == "running"
    ok("kill", "-s", "TERM", "detached", env=env)
    assert ok("wait", "detached", env=env).strip() == str(128 + signal.SIGTERM)
    ok("rm", "detached", env=env)


def test_docker_spellings_container_ls_and_logs_ps_quiet_and_json(daemon) -> None:
    _, env = daemon
    container = ok("container", "run", "-d", "--name", "spelled", "hellohw:1", env=env).strip()
    assert ok("wait", "spelled", env=env).strip() == "3"
    quiet = ok("ps", "-a", "-q", env=env)
    assert container[:12] in quiet.split() and ok("container", "ls", "-a", "-q", env=env) == quiet
    assert container[:12] not in ok("ps", "-q", env=env).split()  # ended: only with -a
    listed = [json.loads(line) for line in ok("ps", "-a", "--format", "json", env=env).splitlines()]
    (mine,) = [c for c in listed if c["name"] == "spelled"]
    assert (mine["id"], mine["status"], mine["exit_status"]) == (container, "exited", 3)
    assert ok("container", "logs", "spelled", env=env) == ok("logs", "spelled", env=env) == "hello\n"
    ok("rm", "spelled", env=env)


def test_twenty_containers_at_once(daemon) -> None:
    """Started together, all twenty run at the same moment: the tickers, which never end by themselves,
    have each printed while every one of them is still running; the others end with all their output."""
    _, env = daemon
    names = [f"many{i}" for i in range(20)]
    tickers = [name for i, name in enumerate(names) if i % 5]
    transport = httpx.HTTPTransport(uds=env["VM_HOST"][len("unix://"):])
    with httpx.Client(transport=transport, base_url="http://daemon/v1", timeout=REQUEST_SECONDS) as client, \
            ThreadPoolExecutor(len(names)) as pool:
        for name in names:
            image = "ticker:1" if name in tickers else "hellohw:1"
            assert client.post("/containers", json={"image": image, "name": name}).status_code == 201
        started = list(pool.map(lambda name: client.post(f"/containers/{name}/start"), names))
        assert [response.status_code for response in started] == [200] * 20

        def printed(name: str) -> bool:
            lines = client.get(f"/containers/{name}/logs").text.splitlines()
            return any("seq" in json.loads(line) for line in lines)

        deadline = time.monotonic() + 60
        while not all(pool.map(printed, tickers)):
            assert time.monotonic() < deadline, "not every ticker printed within a minute"
            time.sleep(0.2)
        assert {c["name"] for c in client.get("/containers").json() if c["status"] == "running"} >= set(tickers)
        assert all(response.status_code == 200 for response in pool.map(
            lambda name: client.post(f"/containers/{name}/kill"), tickers))
        ended = list(pool.map(lambda name: client.post(f"/containers/{name}/wait").json(), names))
    assert [c["exit_status"] for c in ended] == [128 + signal.SIGKILL if n in tickers else 3 for n in names]
    for name in names:
        logs = ok("logs", name, env=env)
        assert logs.startswith("1\n") if name in tickers else logs == "hello\n"
    assert ok("rm", *names, env=env).split() == names


def test_a_guest_past_its_output_limit_is_stopped_and_its_logs_keep_what_it_was_allowed(daemon) -> None:
    _, env = daemon
    proc = vm("container", "run", "--rm", "--output-limit", "100", "ticker:1", env=env)
    assert proc.returncode == 80 and len(proc.stdout) == 100
    assert b"vm: the cage stopped the guest at its output limit (100 bytes" in proc.stderr


# -- RISC-V executables ----------------------------------------------------------------------------------
RISCV = ROOT / "guest_programs" / "riscv64"
RISCV_TICKER = r"""
#include <stdio.h>
int main(void) {  /* prints 1, 2, 3... one line per pause, forever */
    for (unsigned long i = 1;; i++) {
        printf("%lu\n", i);
        fflush(stdout);
        for (volatile unsigned long j = 0; j < 20000; j++) {
        }
    }
}
"""


@pytest.fixture(scope="module")
def riscv_images(images) -> dict[str, str]:
    """In the daemon's store: the committed RISC-V hello image, args_stdin with its arguments and input,
    and (where the cross compiler is) a ticker that prints forever."""
    from riscv64_programs import build

    store = {"VM_IMAGES": str(images / "store")}
    ok("image", "build", RISCV, "-t", "rvhello:1", env=store)
    args = images / "rvargs"
    args.mkdir()
    for name in ("args_stdin", "args_stdin.in"):
        (args / name).write_bytes((RISCV / name).read_bytes())
    (args / "vmfile.toml").write_text('program = "args_stdin"\nargs = ["first", "two words", "", "--flag=x"]\n'
                                      'stdin = "args_stdin.in"\n')
    ok("image", "build", args, "-t", "rvargs:1", env=store)
    ticker = images / "rvticker"
    ticker.mkdir()
    build(ticker, "ticker", RISCV_TICKER, "-static")
    (ticker / "vmfile.toml").write_text('program = "ticker"\n')
    ok("image", "build", ticker, "-t", "rvticker:1", env=store)
    return store


@pytest.mark.parametrize(("image", "program"), [("rvhello:1", "hello"), ("rvargs:1", "args_stdin")])
def test_a_riscv_container_prints_and_ends_as_vm_run_does(daemon, riscv_images, image, program) -> None:
    _, env = daemon
    expected = (RISCV / f"{program}.out").read_bytes()
    container = ok("container", "run", "-d", image, env=env).strip()
    assert ok("wait", container, env=env).strip() == "3"
    assert ok("logs", container, env=env).encode() == expected
    attached = vm("container", "run", "--rm", image, env=env)
    assert (attached.stdout, attached.stderr, attached.returncode) == (expected, b"", 3)
    result = json.loads(ok("inspect", container, env=env))["result"]
    state = result["state"]
    assert (state["arch"], state["exit"], state["trap"], state["limit"]) == ("riscv64", 3, None, None)
    assert len(state["x"]) == 32 and state["mem_sha256"] and result["message"] is None
    assert result["stats"]["engine"] == "hw" and "seccomp" in result["stats"]["cage"]


def test_a_running_riscv_container_streams_its_logs_and_stops(daemon, riscv_images) -> None:
    _, env = daemon
    ok("container", "run", "-d", "--name", "rvtick", "rvticker:1", env=env)
    out = _wait_for_line(["logs", "rvtick"], env, "\n3\n")  # output reaches the logs while it runs
    assert out.startswith("1\n2\n3\n")
    assert ok("stop", "-t", "5", "rvtick", env=env).strip() == "rvtick"
    inspected = json.loads(ok("inspect", "rvtick", env=env))
    assert inspected["status"] == "exited" and inspected["exit_status"] == 128 + signal.SIGTERM
    assert inspected["result"]["message"] == "vm: stopped by `vm stop` (SIGTERM)"
    numbers = [int(n) for n in ok("logs", "rvtick", env=env).split()]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3
    ok("rm", "rvtick", env=env)


@pytest.mark.parametrize(("flags", "message"), [
    (["--cpu-limit", "1"], "vm: the cage stopped the guest at its CPU time limit (1 s, --cpu-limit): CPU time\n"),
    (["--output-limit", "100"], "vm: the cage stopped the guest at its output limit (100 bytes, --output-limit)\n"),
])
def test_the_cages_limits_stop_a_riscv_container(daemon, riscv_images, flags, message) -> None:
    _, env = daemon
    proc = vm("container", "run", "--rm", *flags, "rvticker:1", env=env)
    assert (proc.returncode, proc.stderr.decode()) == (80, message)
    numbers = proc.stdout.split()
    assert numbers[:3] == [b"1", b"2", b"3"]


def test_a_riscv_container_in_para_is_refused_as_vm_run_refuses_it(daemon, riscv_images) -> None:
    _, env = daemon
    proc = vm("container", "run", "--rm", "--mode", "para", "rvhello:1", env=env)
    direct = vm("run", "--mode", "para", RISCV / "hello", env={})
    assert proc.returncode == direct.returncode == 64 + 10
    assert proc.stderr == direct.stderr and b"para runs vm64 code on the host's own processor" in proc.stderr


# -- mistakes: one clear line each -----------------------------------------------------------------------
def test_an_unknown_image_or_container_is_named(daemon) -> None:
    _, env = daemon
    proc = vm("container", "run", "nosuch:1", env=env)
    assert proc.returncode == 2 and b"vm: no image nosuch:1 in the store" in proc.stderr
    for command in (["logs", "ghost"], ["stop", "ghost"], ["inspect", "ghost"], ["rm", "ghost"]):
        proc = vm(*command, env=env)
        assert proc.returncode == 2 and proc.stderr.startswith(b"vm: no container 'ghost'"), command


def test_a_taken_name_and_a_bad_setting_are_refused(daemon) -> None:
    _, env = daemon
    ok("container", "create", "--name", "twice", "hello:1", env=env)
    proc = vm("container", "create", "--name", "twice", "hello:1", env=env)
    assert proc.returncode == 2 and b"already named 'twice'" in proc.stderr
    proc = vm("container", "run", "--mem", "12345", "hello:1", env=env)
    assert proc.returncode == 2 and b"vm: memory: Input should be a multiple of 4096" in proc.stderr
    started = vm("container", "start", "-a", "twice", env=env)
    assert (started.stdout, started.returncode) == (b"hello\n", 3)
    proc = vm("container", "start", "twice", env=env)
    assert proc.returncode == 2 and b"is exited; a container starts once" in proc.stderr
    ok("rm", "twice", env=env)


def test_tcp_needs_the_token(daemon) -> None:
    server, _ = daemon
    url = tcp_url(server)
    for token, message in ((None, b"needs its token"), ("wrong", b"the token was refused")):
        env = {"VM_HOST": url, "VM_DAEMON_TOKEN": token or ""}
        proc = vm("ps", env=env)
        assert proc.returncode == 2 and message in proc.stderr
    assert "CONTAINER ID" in ok("ps", env={"VM_HOST": url, "VM_DAEMON_TOKEN": TOKEN})
    with httpx.Client(base_url=url.replace("tcp://", "http://"), timeout=10) as client:
        response = client.post("/v1/containers", json={"image": "hello:1"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = client.post("/v1/containers", content=b"{not json", headers=headers)
        assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]
        response = client.post("/v1/containers", json={"image": "hello:1", "mode": "fast"}, headers=headers)
        assert response.status_code == 400 and response.json()["error"]["message"] == \
            "mode: Input should be 'hw', 'para', 'auto' or 'os'"
        response = client.get("/v2/whatever", headers=headers)
        assert response.status_code == 404 and "docs/daemon-api.md" in response.json()["error"]["message"]


def test_without_a_daemon_the_message_says_how_to_start_one(tmp_path) -> None:
    proc = vm("ps", env={"VM_HOST": f"unix://{tmp_path / 'none.sock'}"})
    assert proc.returncode == 2 and b"no daemon answers at unix://" in proc.stderr
    assert b"start one with `vm daemon`" in proc.stderr


class _NotADaemon(http.server.BaseHTTPRequestHandler):
    """A web server, not a vm daemon: 404 for /v1/containers, an HTML page for the rest."""

    def do_GET(self) -> None:
        status, body = (404, b"not found") if self.path.startswith("/v1/containers") else (200, b"<html></html>")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("args", [["ps"], ["inspect", "x"], ["logs", "x"]])
def test_a_host_that_is_not_a_vm_daemon_is_named_so(args) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotADaemon) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            host = f"tcp://127.0.0.1:{server.server_address[1]}"
            proc = vm(*args, "--host", host, env={})
        finally:
            server.shutdown()
    assert proc.returncode == 2
    assert proc.stderr.decode() == (f"vm: {host} does not answer as a vm daemon (HTTP 404 Not Found, not the "
                                    "daemon's JSON); point --host or $VM_HOST at one\n")


def test_a_damaged_image_is_refused_at_create(images, tmp_path) -> None:
    store = tmp_path / "store"
    ok("image", "load", _saved(images, tmp_path), env={"VM_IMAGES": str(store)})
    with start_daemon(tmp_path / "d", store) as server:
        env = client_env(server, tmp_path / "d")
        manifest = json.loads(ok("image", "inspect", "hello:1", env={"VM_IMAGES": str(store)}))["manifest"]
        layer = store / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
        layer.write_bytes(layer.read_bytes()[:-1] + b"!")
        proc = vm("container", "run", "hello:1", env=env)
        assert proc.returncode == 2 and b"cannot be run" in proc.stderr and b"no longer match its digest" in proc.stderr


def _saved(images: Path, tmp_path: Path) -> Path:
    tar = tmp_path / "hello.tar"
    ok("image", "save", "hello:1", "ticker:1", "-o", tar, env={"VM_IMAGES": str(images / "store")})
    return tar


# -- a daemon killed mid-run loses nothing ----------------------------------------------------------------
def test_a_daemon_killed_with_sigkill_restarts_with_every_container(images, tmp_path) -> None:
    root, store = tmp_path / "d", images / "store"
    with start_daemon(root, store) as server:
        env = client_env(server, root)
        assert vm("container", "run", "--name", "done", "hello:1", env=env).returncode == 3
        ok("container", "run", "-d", "--name", "busy", "ticker:1", env=env)
        ok("container", "create", "--name", "later", "hello:1", env=env)
        _wait_for_line(["logs", "busy"], env, "\n5\n")
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(REQUEST_SECONDS)
    with start_daemon(root, store) as server:
        env = client_env(server, root)
        listing = ok("ps", "-a", env=env)
        for name, status in (("done", "exited (3)"), ("busy", "lost"), ("later", "created")):
            assert any(name in line and status in line for line in listing.splitlines()), listing
        assert ok("logs", "done", env=env) == "hello\n"
        kept = ok("logs", "busy", env=env).split()
        assert len(kept) >= 5 and kept == [str(n) for n in range(1, len(kept) + 1)]
        time.sleep(0.5)
        assert ok("logs", "busy", env=env).split() == kept  # its guest ended with the daemon
        lost = json.loads(ok("inspect", "busy", env=env))
        assert lost["status"] == "lost" and "the daemon stopped while this container ran" in lost["result"]["message"]
        started = vm("container", "start", "-a", "later", env=env)
        assert (started.stdout, started.returncode) == (b"hello\n", 3)
        assert "marked lost" in server.log_text()


def test_the_whole_way_build_push_pull_into_the_daemons_store_and_run(images, tmp_path) -> None:
    """Build in one store, push to a registry, pull into the store a daemon runs from, run it there."""
    builder, daemons_store = {"VM_IMAGES": str(images / "store")}, {"VM_IMAGES": str(tmp_path / "store")}
    with serve(["registry", "serve", "--port", "0", "--root", str(tmp_path / "registry")],
               tmp_path / "registry.log") as registry:
        url = registry.ready_line.rsplit(" ", 1)[1]
        ok("push", "hello:1", "--registry", url, env=builder)
        ok("pull", "hello:1", "--registry", url, env=daemons_store)
    with start_daemon(tmp_path / "d", tmp_path / "store") as server:
        env = client_env(server, tmp_path / "d")
        ran = vm("container", "run", "--name", "pulled", "hello:1", env=env)
        assert (ran.stdout, ran.returncode) == (b"hello\n", 3)
        assert ok("logs", "pulled", env=env) == "hello\n"

"""The daemon's commands of `vm`: `daemon`, and its client's container run/create/start, ps, logs, stop,
kill, wait, rm and inspect, all over the daemon's API (docs/daemon-api.md).

Only argparse is imported here: the CLI builds its parser on every `vm run`, so the daemon, the
client and their libraries are imported by the handlers that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time

from vm.arguments import parse_fuel, parse_limit_size, parse_seconds, parse_size, parse_timeout
from vm.containers import CLIENT_SECONDS, KILL_SIGNALS

CONTAINER_HELP = "the container: its name, its id, or the start of its id"


def add_commands(command) -> None:
    """Add this module's subcommands through the CLI's `command(name, func, help)` factory."""
    from vm.run import MODES

    p = command("daemon", cmd_daemon, "run containers and serve their API until interrupted")
    p.add_argument("--root", metavar="DIR", help="its state, socket and containers' files "
                   "(default: $VM_DAEMON_ROOT, else ~/.local/share/vm/daemon)")
    p.add_argument("--socket", metavar="PATH",
                   help="the unix socket to listen on, mode 0600 (default: ROOT/daemon.sock)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="also listen on this loopback TCP address (needs --token)")
    p.add_argument("--token", default=os.environ.get("VM_DAEMON_TOKEN"), metavar="T",
                   help="the token TCP clients must send (default: $VM_DAEMON_TOKEN)")
    p.add_argument("--images", metavar="DIR", help="the image store it runs images from "
                   "(default: $VM_IMAGES, else ~/.local/share/vm/images)")
    p.add_argument("--client-timeout", type=parse_timeout, default=CLIENT_SECONDS, metavar="SECONDS",
                   help="a client that sends nothing of its request for this long is cut off (default: 10)")

    containers = command("container", _needs_subcommand, "create and run containers from images")
    sub = containers.add_subparsers(dest="container_command", metavar="SUBCOMMAND")
    for name, func, text in (("run", cmd_run, "create a container from an image and start it"),
                             ("create", cmd_create, "create a container from an image, not started")):
        p = _sub(sub, name, func, text)
        p.add_argument("image", metavar="IMAGE", help="NAME:TAG or digest, in the daemon's image store")
        p.add_argument("--name", help="the container's name (default: the image's name and a part of the id)")
        p.add_argument("--mode", choices=MODES, help="engine (default: the image's)")
        p.add_argument("--mem", type=parse_size, metavar="BYTES", help="guest memory (default: the image's)")
        p.add_argument("--fuel", type=parse_fuel, metavar="N", help="instruction budget (default: the image's)")
        p.add_argument("--cpu-limit", type=parse_seconds, metavar="SECONDS", help="the cage's CPU time limit")
        p.add_argument("--mem-limit", type=parse_limit_size, metavar="BYTES", help="the cage's address-space limit")
        p.add_argument("--output-limit", type=parse_limit_size, metavar="BYTES",
                       help="the cage's output limit (default: the image's, else 16M: the daemon stores it all)")
        p.add_argument("--rm", action="store_true", help="remove the container once it ends")
        if name == "run":
            p.add_argument("-d", "--detach", action="store_true", help="print its id and return; do not follow it")
            _sig_proxy_option(p)
    p = _sub(sub, "start", cmd_start, "start a created container")
    p.add_argument("container", metavar="CONTAINER", help=CONTAINER_HELP)
    p.add_argument("-a", "--attach", action="store_true", help="follow its output and exit with its status")
    _sig_proxy_option(p)

    _ps_options(_host_options(command("ps", cmd_ps, PS_HELP)))
    _ps_options(_sub(sub, "ls", cmd_ps, PS_HELP + " (vm ps)"))
    _logs_options(_host_options(command("logs", cmd_logs, LOGS_HELP)))
    _logs_options(_sub(sub, "logs", cmd_logs, LOGS_HELP + " (vm logs)"))
    p = _host_options(command("stop", cmd_stop, "stop containers: SIGTERM, then SIGKILL after a grace period"))
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help=CONTAINER_HELP)
    p.add_argument("-t", "--time", type=float, default=10.0, metavar="SECONDS", help="the grace period (default: 10)")
    p = _host_options(command("kill", cmd_kill, "send running containers a signal (default: SIGKILL)"))
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help=CONTAINER_HELP)
    p.add_argument("-s", "--signal", type=_signal_name, default="KILL", metavar="SIGNAL",
                   help=f"the signal: {', '.join(KILL_SIGNALS)} (default: KILL)")
    p = _host_options(command("wait", cmd_wait, "wait for containers to end; print their exit statuses"))
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help=CONTAINER_HELP)
    p = _host_options(command("rm", cmd_rm, "remove containers and their logs"))
    p.add_argument("containers", nargs="+", metavar="CONTAINER", help=CONTAINER_HELP)
    p.add_argument("-f", "--force", action="store_true", help="kill a running one first")
    p = _host_options(command("inspect", cmd_inspect, "print a container's settings, state and result as JSON"))
    p.add_argument("container", metavar="CONTAINER", help=CONTAINER_HELP)


PS_HELP = "list running containers"
LOGS_HELP = "print a container's output"


def _ps_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="every container, ended ones too")
    p.add_argument("-q", "--quiet", action="store_true", help="only their ids (short, as the table's), one a line")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="a table, or each container as the daemon gives it, one JSON object a line (default: table)")


def _logs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER", help=CONTAINER_HELP)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing it until the container ends")


def _sig_proxy_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sig-proxy", type=_boolean, nargs="?", const=True, default=True, metavar="true|false",
                   help="attached, pass Ctrl-C on to the container: SIGINT, then SIGTERM, then SIGKILL, and wait for "
                   "it to end (default: true; false: Ctrl-C detaches and the container runs on)")


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is neither true nor false")


def _signal_name(text: str) -> str:
    name = text.upper().removeprefix("SIG")
    if name not in KILL_SIGNALS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(KILL_SIGNALS)}")
    return name


def _sub(sub, name: str, func, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func, usage_of=p)
    return _host_options(p)


def _host_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--host", metavar="URL", help="the daemon: unix:///PATH or tcp://HOST:PORT "
                   "(default: $VM_HOST, else unix://~/.local/share/vm/daemon/daemon.sock)")
    p.add_argument("--token", metavar="T", help="the daemon's token, for TCP (default: $VM_DAEMON_TOKEN)")
    return p


def _needs_subcommand(args: argparse.Namespace) -> int:
    from vm.containers.errors import ContainerError

    raise ContainerError(f"`vm {args.command}` needs a subcommand; `vm {args.command} --help` lists them")


def _client(args: argparse.Namespace):
    from vm.containers.client import DaemonClient

    return DaemonClient(args.host, args.token)


# -- the daemon ----------------------------------------------------------------------------------------
def cmd_daemon(args: argparse.Namespace) -> int:
    from vm.containers.daemon import serve

    return serve(args.root, args.socket, args.tcp, args.token, args.images, args.client_timeout)


# -- containers ----------------------------------------------------------------------------------------
def _create(client, args: argparse.Namespace) -> dict:
    body: dict = {"image": args.image, "auto_remove": args.rm}
    for key, value in (("name", args.name), ("mode", args.mode), ("memory", args.mem), ("fuel", args.fuel)):
        if value is not None:
            body[key] = value
    limits = {key: value for key, value in (("cpu_seconds", args.cpu_limit), ("memory_bytes", args.mem_limit),
                                            ("output_bytes", args.output_limit)) if value is not None}
    if limits:
        body["limits"] = limits
    return client.request("POST", "/containers", body)


def cmd_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_create(client, args)["id"])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    with _client(args) as client:
        container = _create(client, args)
        if args.detach:
            client.request("POST", f"/containers/{container['id']}/start")
            print(container["id"])
            return 0
        return _start_attached(client, args, container["name"])


def cmd_start(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.attach:
            return _start_attached(client, args, args.container)
        print(client.request("POST", f"/containers/{args.container}/start")["name"])
    return 0


def _start_attached(client, args: argparse.Namespace, ref: str) -> int:
    """Start a container and follow it; Ctrl-C is passed on to it (as Docker's --sig-proxy), or detaches."""
    lines = client.stream("POST", f"/containers/{ref}/start", attach=True)
    if not args.sig_proxy:
        try:
            return _attached(lines)
        except KeyboardInterrupt:
            print(f"vm: detached from {ref}; it runs on (`vm logs -f {ref}` follows it, `vm stop {ref}` stops it)",
                  file=sys.stderr)
            return 130
    with _interrupts_passed_on(args, ref):
        return _attached(lines)


@contextlib.contextmanager
def _interrupts_passed_on(args: argparse.Namespace, ref: str):
    """While attached, each Ctrl-C sends the container the next of SIGINT, SIGTERM, SIGKILL (through the
    daemon, from a thread: the stream goes on, and ends with the container)."""
    sent = 0

    def pass_on(signum, frame) -> None:
        nonlocal sent
        name = KILL_SIGNALS[min(sent, len(KILL_SIGNALS) - 1)]
        sent += 1
        threading.Thread(target=_send_signal, args=(args, ref, name), daemon=True).start()

    previous = signal.signal(signal.SIGINT, pass_on)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _send_signal(args: argparse.Namespace, ref: str, name: str) -> None:
    from vm.containers.errors import ContainerError

    following = {"INT": "Ctrl-C again sends SIGTERM", "TERM": "Ctrl-C again sends SIGKILL", "KILL": "waiting"}
    print(f"vm: passing SIG{name} on to the container ({following[name]})", file=sys.stderr, flush=True)
    with contextlib.suppress(ContainerError), _client(args) as client:  # it may have ended meanwhile
        client.request("POST", f"/containers/{ref}/kill", signal=name, wait_seconds=None)


def _attached(lines) -> int:
    """Pass a container's output on as it comes; say how it ended, as `vm run` does, and exit so."""
    from vm.containers.errors import ContainerError

    final = _print_output(lines)
    if final is None:
        raise ContainerError("the container was removed before it ended")
    message = (final.get("result") or {}).get("message")
    if message:
        print(message, file=sys.stderr)
    return final["exit_status"] if final["exit_status"] is not None else 2


def _print_output(lines) -> dict | None:
    """Write each chunk to this process's stdout or stderr; the container line that ends the stream."""
    from vm.containers.client import chunk_bytes
    from vm.containers.errors import ContainerError

    final = None
    for line in lines:
        if "container" in line:
            final = line["container"]
            continue
        if "error" in line:  # the daemon failed once the stream had begun
            raise ContainerError(line["error"]["message"])
        out = sys.stdout.buffer if line["stream"] == "stdout" else sys.stderr.buffer
        out.write(chunk_bytes(line))
        out.flush()
    return final


def cmd_ps(args: argparse.Namespace) -> int:
    import json

    with _client(args) as client:
        containers = client.request("GET", "/containers", all=args.all)
    if args.quiet or args.format == "json":
        for c in containers:
            print(c["id"][:12] if args.quiet else json.dumps(c))
        return 0
    now = time.time()
    rows = [("CONTAINER ID", "NAME", "IMAGE", "MODE", "STATUS", "CREATED")]
    for c in containers:
        rows.append((c["id"][:12], c["name"], c["image"], c["settings"]["mode"], _status(c, now),
                     f"{_ago(now - c['created'])} ago"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for *cells, last in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + last)
    return 0


def _status(c: dict, now: float) -> str:
    if c["status"] == "running":
        return f"running for {_ago(now - c['started'])}"
    if c["status"] == "exited":
        return f"exited ({c['exit_status']}) {_ago(now - c['finished'])} ago"
    return c["status"]


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def cmd_logs(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            _print_output(client.stream("GET", f"/containers/{args.container}/logs", follow=args.follow))
        except KeyboardInterrupt:  # Ctrl-C stops following, nothing more: the container runs on
            return 130
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for ref in args.containers:
            print(client.request("POST", f"/containers/{ref}/stop", wait_seconds=args.time + 30,
                                 timeout=args.time)["name"])
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for ref in args.containers:
            print(client.request("POST", f"/containers/{ref}/kill", signal=args.signal)["name"])
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for ref in args.containers:
            print(client.request("POST", f"/containers/{ref}/wait", wait_seconds=None)["exit_status"])
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for ref in args.containers:
            print(client.request("DELETE", f"/containers/{ref}", force=args.force)["name"])
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    with _client(args) as client:
        container = client.request("GET", f"/containers/{args.container}")
    for key in ("created", "started", "finished"):  # ISO 8601, as an image's config has its time
        if isinstance(container.get(key), int | float):
            container[key] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(container[key]))
    print(json.dumps(container, indent=2))
    return 0

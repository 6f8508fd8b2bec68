"""Run the harness beside a submission, inside a bubblewrap sandbox, and read what comes back.

The sandbox (``bwrap``, Debian package ``bubblewrap``) sees a read-only
``/usr``, the Python interpreter's own prefix, NumPy (and only the libraries
the exercises allow) under ``/sandbox/lib``, and a private ``/tmp`` of
limited size holding the job. Nothing else of the machine is mounted: not
the repository, not ``cnnlib`` or its reference solutions, not the other
submissions, not the instructor's output folder. It has its own PID
namespace (killing ``bwrap`` kills every process the submission started,
``setsid`` daemons included), no network, an unprivileged user (``nobody``),
a clean environment, and hard resource limits set by the harness before any
submitted code runs.

The parent reads two pipes with a deadline: the frames (capped in bytes)
and whatever the submission printed (the first characters kept, the rest
counted).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import selectors
import signal
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

from . import _harness

__all__ = ["Limits", "ChildRun", "bwrap_path", "run"]

NOBODY = 65534
INSTALL_HINT = ("bubblewrap (bwrap) is not installed: install it with `sudo apt-get install bubblewrap` "
                "(Debian/Ubuntu) or `sudo dnf install bubblewrap` (Fedora), or grade with --no-sandbox "
                "on a machine you do not mind the submissions taking over")


@dataclass(frozen=True)
class Limits:
    """What one submission may use; `timeout` is wall seconds for all of it."""

    timeout: float = 60.0
    check_timeout: float = 10.0
    memory: int = 2 << 30        # bytes of address space (RLIMIT_AS)
    processes: int = 64          # processes of the sandbox user (RLIMIT_NPROC)
    open_files: int = 64         # RLIMIT_NOFILE
    file_size: int = 16 << 20    # bytes per file written (RLIMIT_FSIZE)
    tmp_size: int = 64 << 20     # bytes of the private /tmp
    frame_bytes: int = 64 << 20  # bytes of results read back
    printed_chars: int = 10_000  # characters of printed output kept for the report

    def rlimits(self) -> dict[str, int]:
        cpu = int(self.timeout) + 2  # CPU seconds: a busy loop that survives the alarms still ends
        return {"RLIMIT_AS": self.memory, "RLIMIT_CPU": cpu, "RLIMIT_NPROC": self.processes,
                "RLIMIT_NOFILE": self.open_files, "RLIMIT_FSIZE": self.file_size, "RLIMIT_CORE": 0}


@dataclass
class ChildRun:
    """What came back from one run of the harness."""

    frames: list[dict] = field(default_factory=list)
    printed: str = ""
    printed_dropped: int = 0
    timed_out: bool = False
    returncode: int | None = None
    broken: str | None = None      # the frames stopped making sense (or grew past the cap)
    failed_to_start: str | None = None
    seconds: float = 0.0


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _site_dirs() -> list[str]:
    """Every folder Python may import installed packages from, to be hidden in the sandbox."""
    found = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
        found.update([paths["purelib"], paths["platlib"]])
    for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages", "/usr/lib/python3/dist-packages"):
        found.update(glob(pattern))
    return sorted(p for p in found if os.path.isdir(p))


def _top_levels(dist: importlib.metadata.Distribution) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for f in dist.files or []:
        first = f.parts[0]
        if not first.endswith((".dist-info", ".egg-info", ".pth")) and first != "__pycache__" and ".." not in f.parts:
            names.add(first.removesuffix(".py"))
    return names


def library_paths(modules: list[str]) -> dict[str, str]:
    """Sandbox name -> host path of every file or folder `modules` (and what they require) import from."""
    wanted, seen, paths = list(modules), set(), {}
    while wanted:
        name = wanted.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        base = Path(str(dist.locate_file("")))
        for top in _top_levels(dist):
            for candidate in (base / top, base / f"{top}.py", base / f"{top}.libs"):
                if candidate.exists():
                    paths[candidate.name] = str(candidate)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                wanted.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return paths


def _ancestors_as_dirs(path: str, made: set[str]) -> list[str]:
    """bwrap arguments creating, world-readable, the folders above `path` in the sandbox."""
    args = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        folder = str(Path(*parts[:i]))
        if folder not in made and not folder.startswith("/usr"):
            made.add(folder)
            args += ["--perms", "0755", "--dir", folder]
    return args


def _bwrap_command(bwrap: str, python: str, libraries: dict[str, str], limits: Limits,
                   job_fd: int, harness_fd: int) -> list[str]:
    made: set[str] = set()
    cmd = [bwrap, "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            cmd += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        cmd += _ancestors_as_dirs(prefix + "/x", made) + ["--ro-bind", prefix, prefix]
    for site_dir in _site_dirs():  # installed packages of the interpreter: hidden, cnnlib among them
        real = os.path.realpath(site_dir)
        if real.startswith("/usr/") or real.startswith(prefix + "/"):
            cmd += ["--tmpfs", real]
    cmd += ["--perms", "0755", "--dir", "/sandbox", "--perms", "0755", "--dir", "/sandbox/lib"]
    for name, host in sorted(libraries.items()):
        cmd += ["--ro-bind", host, f"/sandbox/lib/{name}"]
    cmd += ["--perms", "0444", "--file", str(harness_fd), "/sandbox/harness.py",
            "--size", str(limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "0777", "--dir", "/tmp/work", "--perms", "0444", "--file", str(job_fd), "/tmp/work/job.bin",
            "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp/work",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "OPENBLAS_NUM_THREADS", "1",
            "--chdir", "/tmp/work"]
    if os.geteuid() == 0:  # as root: no user namespace, and the submission runs as the real user nobody
        cmd += ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
    else:
        cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL", "--"]
    return cmd + [python, "-I", "-S", "/sandbox/harness.py", "/tmp/work", "/sandbox/lib"]


def _unsandboxed_command(python: str, workdir: str, libraries: dict[str, str]) -> list[str]:
    libdir = os.path.join(workdir, "lib")
    os.makedirs(libdir)
    for name, host in libraries.items():
        os.symlink(host, os.path.join(libdir, name))
    return [python, "-I", "-S", os.path.join(workdir, "harness.py"), workdir, libdir]


def run(job: bytes, limits: Limits, libraries: dict[str, str], sandbox: bool = True) -> ChildRun:
    """Run the harness on `job` (encoded frames) and collect its frames and printed output."""
    python = os.path.realpath(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
    harness_source = Path(_harness.__file__).read_bytes()
    with tempfile.TemporaryDirectory(prefix="cnnlib-grade-") as tmp:
        if sandbox:
            job_file, harness_file = open(os.path.join(tmp, "job"), "w+b"), open(os.path.join(tmp, "h"), "w+b")
            for f, data in ((job_file, job), (harness_file, harness_source)):
                f.write(data)
                f.flush()
                f.seek(0)
            cmd = _bwrap_command(bwrap_path() or "bwrap", python, libraries, limits,
                                 job_file.fileno(), harness_file.fileno())
            fds: tuple[int, ...] = (job_file.fileno(), harness_file.fileno())
            cwd = "/"
        else:
            Path(tmp, "job.bin").write_bytes(job)
            Path(tmp, "harness.py").write_bytes(harness_source)
            cmd, fds, cwd = _unsandboxed_command(python, tmp, libraries), (), tmp
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=cwd, env=env, pass_fds=fds, start_new_session=True)
        except OSError as exc:
            return ChildRun(failed_to_start=f"{type(exc).__name__}: {exc}")
        finally:
            if sandbox:
                job_file.close()
                harness_file.close()
        return _collect(proc, limits)


def _collect(proc: subprocess.Popen, limits: Limits) -> ChildRun:
    result = ChildRun()
    start = time.monotonic()
    deadline = start + limits.timeout
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, "frames")
    selector.register(proc.stderr, selectors.EVENT_READ, "printed")
    buffer, total, printed = b"", 0, bytearray()
    open_pipes, done = 2, False
    try:
        while open_pipes:
            if done:  # what the submission printed last is still on its way: a moment more for it
                deadline = min(deadline, time.monotonic() + 0.3)
                done = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = done is not None
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fileobj.fileno(), 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                elif key.data == "printed":
                    room = max(limits.printed_chars * 4 - len(printed), 0)  # utf-8: at most 4 bytes a character
                    printed += chunk[:room]
                    result.printed_dropped += len(chunk) - min(len(chunk), room)
                elif result.broken is None and done is False:
                    total += len(chunk)
                    if total > limits.frame_bytes:
                        result.broken = f"the submission's results grew past {limits.frame_bytes:,} bytes"
                        deadline = 0
                        break
                    buffer += chunk
                    frames, used, broken = _harness.split_frames(buffer)
                    buffer = buffer[used:]
                    result.frames += frames
                    if broken:
                        result.broken = "the results coming back from the submission were garbled"
                    if any(f.get("ev") == "done" for f in frames):
                        done = True
    finally:
        _kill(proc)
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
    result.returncode = proc.returncode
    result.seconds = time.monotonic() - start
    text = printed.decode("utf-8", errors="replace")
    kept = text[:limits.printed_chars]
    result.printed = kept
    result.printed_dropped += len(text) - len(kept)
    if not result.frames and not result.timed_out and result.returncode not in (0, None):
        result.failed_to_start = text[-2000:] or f"exit code {result.returncode}"
    return result


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        found = []
        for stat in glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields and int(fields[1]) == pid:
                found.append(int(stat.split("/")[2]))
        return found


def _kill(proc: subprocess.Popen) -> None:
    """Kill the sandbox and wait until every process the submission started is gone.

    Killing the PID namespace's first process makes the kernel kill every
    other one in it (``setsid`` daemons included) and reap them before that
    first process is reaped by bwrap, which then exits: once bwrap is
    waited for, nothing of the submission is left.
    """
    if proc.poll() is None:
        for child in _children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # --no-sandbox: the process group (a setsid daemon escapes it)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()

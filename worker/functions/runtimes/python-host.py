# Over 500 lines: one self-contained program (it runs inside the sandbox, importing nothing of the service): fd cleanup, the protocol, the handler loader and the leftover checks.
"""Warm host of one user function version in Python (docs/functions.md).

Run as `python3 -I -B python-host.py`, usually inside bubblewrap; spawned and driven by
worker/functions/function-pool.ts. Same protocol as node-host.mjs: JSON lines on fd 3 (a socket,
both ways), the user's stdout/stderr on fds 1 and 2 read by the parent as the invocation's logs,
and after an invocation that wrote anything (the kernel's `wchar` in /proc/self/io moved) the end
marker `\\x1eFNQ-END:<nonce>\\n` written on fd 1 and fd 2 after flushing sys.stdout/sys.stderr,
`marks` telling on which streams that write succeeded (0: nothing written, no marker needed).
Result messages carry the invocation's `nonce`, and `stray_processes` when the parent asked the host
to count leftover processes itself (`count_processes`, see node-host.mjs).

The code is `function.py` in code_dir, executed as a module named `__function__` (not
`__main__`: a script's `if __name__ == "__main__":` block stays unrun). The handler is the
module-level callable named by `handler`; `def` and `async def` both work (a coroutine is run on
this host's one event loop). It receives `(event)` or, when it takes two positional parameters,
`(event, context)`.

Before anything else runs, every descriptor above 3 is closed: descriptors the worker inherited
without close-on-exec (a shell's `exec 200</dir`, a supervisor's pipe) pass through spawn and
bubblewrap, and one that names a folder outside the sandbox would lead to the host's `/`
(docs/functions.md, "The function sandbox"). The function's process holds only fds 0-3 when its code starts.

After each invocation the host reports what the invocation left running in this process besides
processes (`stray_threads`): threads beyond those of the host when its code started
(/proc/self/task), an interval timer (setitimer/alarm, whose signal handler would run between
invocations), or tasks and callbacks still scheduled on the host's event loop. The parent then retires this process and kills its tree (docs/functions.md, "The
function sandbox").
"""
import os


def _close_inherited_fds():
    """Closes every descriptor above 3 (this script opened none yet): see the module's docstring."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        os.closerange(4, 1 << 20)
        return
    for fd in fds:
        if fd > 3:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, closed already


_close_inherited_fds()

import asyncio  # noqa: E402 - after the descriptors are closed
import errno  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402

CODE_FILE = "function.py"

_proto = socket.socket(fileno=3)
_proto.set_inheritable(False)
_reader = _proto.makefile("rb")
_real_stdout = sys.stdout
_real_stderr = sys.stderr
# Kept before any user code runs (which could replace the os module's functions).
_listdir = os.listdir
_getpid = os.getpid
_getitimer = signal.getitimer
_sleep = time.sleep
_ITIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


def _thread_count():
    """Threads of this process now (/proc/self/task); -1 when unreadable."""
    try:
        return len(_listdir("/proc/self/task"))
    except Exception:
        return -1


def _stray_threads(baseline):
    """Threads beyond `baseline` plus armed interval timers (see the module's docstring); 0 when unknown.

    A joined thread may still be a task for a few microseconds after join() returned (its OS
    thread exits after it released the join lock): an excess is read again a few times, 1 ms apart.
    """
    stray = 0
    if baseline >= 0:
        for attempt in range(5):
            n = _thread_count()
            stray = max(0, n - baseline) if n >= 0 else 0
            if stray == 0:
                break
            _sleep(0.001)
    for which in _ITIMERS:
        try:
            if _getitimer(which) != (0.0, 0.0):
                stray += 1
        except Exception:
            pass
    return stray


def _stray_processes(mode):
    """Processes the invocation left running (see node-host.mjs, count_processes); 0 when unknown."""
    try:
        if mode == "proc":
            me = str(_getpid())
            return sum(1 for n in _listdir("/proc") if n.isdigit() and n != "1" and n != me)
        if mode == "children":
            with open("/proc/self/task/%d/children" % _getpid(), "rb") as f:
                return len(f.read().split())
    except Exception:
        pass
    return 0


def _safe_str(value):
    """str(value), else repr(value), else its type's name: user objects may raise from both."""
    for conv in (str, repr):
        try:
            text = conv(value)
            if isinstance(text, str):
                return str.__str__(text)
        except BaseException:  # noqa: B036 - a hostile __str__ may raise anything
            pass
    return _type_name(value)


def _type_name(value):
    try:
        name = type(value).__name__
        if isinstance(name, str):
            return str.__str__(name)
    except BaseException:  # noqa: B036
        pass
    return "Exception"


def _send(text):
    _proto.sendall(text.encode("utf-8") + b"\n")


# The invocation in flight ({id, nonce}), for progress reports; None between invocations.
_current = None


def _progress(percent, message=None):
    """Reports progress (docs/operations.md, "Progress and live events"): percent 0-100 and an optional message, shown on the job record
    and its live events. `import fnqueue; fnqueue.progress(50, "half way")`."""
    inv = _current
    if inv is None:
        return
    try:
        pct = float(percent)
    except (TypeError, ValueError):
        pct = 0.0
    if pct != pct or pct in (float("inf"), float("-inf")):
        pct = 0.0
    msg = {"type": "progress", "id": inv["id"], "nonce": inv["nonce"], "percent": pct}
    if message is not None:
        msg["message"] = _safe_str(message)[:1000]
    _send(json.dumps(msg))


_fnqueue = types.ModuleType("fnqueue")
_fnqueue.progress = _progress
sys.modules["fnqueue"] = _fnqueue


def _status_fd():
    try:
        return os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


_STATUS_FD = _status_fd()
try:
    _CLEAR_REFS_FD = os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
except OSError:
    _CLEAR_REFS_FD = -1


def _reset_peak_rss():
    """Resets the kernel's RSS high-water mark, so VmHWM is per invocation. Returns the bytes written."""
    if _CLEAR_REFS_FD >= 0:
        try:
            return os.write(_CLEAR_REFS_FD, b"5")
        except OSError:
            pass
    return 0


try:
    _IO_FD = os.open("/proc/self/io", os.O_RDONLY | os.O_CLOEXEC)
except OSError:
    _IO_FD = -1


def _written_bytes():
    """Bytes this process passed to write(2) so far (`wchar` of /proc/self/io, every fd); -1 if unknown."""
    if _IO_FD < 0:
        return -1
    try:
        data = os.pread(_IO_FD, 512, 0)
        i = data.find(b"wchar:")
        return int(data[i + 6 : data.index(b"\n", i)]) if i >= 0 else -1
    except (OSError, ValueError):
        return -1


def _peak_rss_bytes():
    """VmHWM of /proc/self/status in bytes (measured by the kernel); ru_maxrss when /proc is missing."""
    if _STATUS_FD >= 0:
        try:
            data = os.pread(_STATUS_FD, 4096, 0)
            i = data.find(b"VmHWM:")
            if i >= 0:
                return int(data[i + 6 : data.index(b"kB", i)].strip()) * 1024
        except (OSError, ValueError):
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Host:
    def __init__(self, config):
        self.config = config
        self.code_dir = config["code_dir"]
        self.deps = config.get("deps")
        self.code_path = os.path.join(self.code_dir, CODE_FILE)
        self.max_result = int(config["max_result_bytes"])
        self.loop = asyncio.new_event_loop()
        self.fn = None
        self.wants_context = False
        # wchar right after the last result was sent (-1: unknown). When only our clear_refs byte
        # was written since, no output can be in flight and the end markers are skipped.
        self.quiet_since = -1
        self.own_writes = 0
        self.threads0 = -1

    # ---- errors -------------------------------------------------------------------------
    def _is_user_file(self, filename):
        if filename == self.code_path:
            return True
        return bool(self.deps) and filename.startswith(self.deps.rstrip("/") + "/")

    def _display(self, filename):
        if filename == self.code_path:
            return CODE_FILE
        if self.deps and filename.startswith(self.deps.rstrip("/") + "/"):
            return "deps/" + filename[len(self.deps.rstrip("/")) + 1 :]
        return filename

    def describe(self, exc, kind):
        """The exception as {kind, name, message, stack}; never raises (falls back to the type's name)."""
        try:
            return self._describe(exc, kind)
        except BaseException:  # noqa: B036
            name = _type_name(exc)
            return {"kind": kind, "name": name, "message": name, "stack": []}

    def _describe(self, exc, kind):
        frames = []
        try:
            for fr in traceback.extract_tb(exc.__traceback__):
                if self._is_user_file(fr.filename):
                    line = '  File "%s", line %s, in %s' % (self._display(fr.filename), fr.lineno, fr.name)
                    if fr.line:
                        line += "\n    " + fr.line.strip()
                    frames.append(line)
        except Exception:
            pass
        try:
            if isinstance(exc, SyntaxError) and exc.filename:
                frames.append('  File "%s", line %s' % (self._display(exc.filename), exc.lineno))
        except Exception:
            pass
        message = _safe_str(exc)
        try:
            if isinstance(exc, SyntaxError):
                message = "%s (line %s)" % (_safe_str(exc.msg), _safe_str(exc.lineno))
        except Exception:
            pass
        message = message.replace(self.code_path, CODE_FILE)
        return {"kind": kind, "name": _type_name(exc), "message": message, "stack": frames}

    # ---- load ---------------------------------------------------------------------------
    def load(self):
        # prlimit(1) normally set RLIMIT_AS before this process started; where it is missing, set
        # it here, before any user code (lowering a limit needs no privilege).
        mem = self.config.get("memory_mb")
        if mem:
            limit = int(mem) * 1024 * 1024
            soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
            if soft == resource.RLIM_INFINITY or soft > limit:
                try:
                    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
                except (ValueError, OSError):
                    pass
        env = self.config["env"]
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
        os.chdir(self.config["cwd"])
        if self.deps:
            sys.path.insert(0, self.deps)
        # Threads before any user code (the top level may start one too): more after an invocation retire this process.
        self.threads0 = _thread_count()
        t0 = time.perf_counter()
        module = types.ModuleType("__function__")
        module.__file__ = self.code_path
        sys.modules["__function__"] = module
        with open(self.code_path, "rb") as f:
            source = f.read()
        code = compile(source, self.code_path, "exec", dont_inherit=True)
        exec(code, module.__dict__)
        name = self.config["handler"]
        fn = module.__dict__.get(name)
        if not callable(fn):
            return {
                "type": "load_error",
                "error": {
                    "kind": "load_error",
                    "name": "Error",
                    "message": "no function named '%s' in the code: define `def %s(event):`" % (name, name),
                    "stack": [],
                },
            }
        self.fn = fn
        try:
            params = [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            ]
            self.wants_context = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            self.wants_context = False
        return {"type": "ready", "load_ms": (time.perf_counter() - t0) * 1000, "module": "python"}

    # ---- invoke -------------------------------------------------------------------------
    def _markers(self, nonce):
        for stream in (sys.stdout, sys.stderr, _real_stdout, _real_stderr):
            try:
                stream.flush()
            except Exception:
                pass
        marker = ("\x1eFNQ-END:%s\n" % nonce).encode()
        marks = 0
        for fd, bit in ((1, 1), (2, 2)):
            try:
                view = memoryview(marker)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                marks |= bit
            except OSError:
                pass
        return marks

    def _pending_async(self):
        """Tasks and callbacks still scheduled on this host's event loop (`asyncio.ensure_future`,
        `loop.call_later` left by an async handler): they would run in the next invocation."""
        try:
            tasks = sum(1 for t in asyncio.all_tasks(self.loop) if not t.done())
            handles = sum(1 for h in list(self.loop._ready) + list(self.loop._scheduled) if not h.cancelled())
            return tasks + handles
        except Exception:
            return 0

    def invoke(self, msg):
        global _current
        context = {
            "function_id": self.config["function_id"],
            "version": self.config["version"],
            "invocation_id": msg.get("run_id"),
            "deadline_ms": msg.get("deadline_ms"),
            "progress": _progress,
        }
        _current = {"id": msg["id"], "nonce": msg["nonce"]}
        event = msg.get("event")
        ok = False
        recycle = False
        payload = None
        self.own_writes = _reset_peak_rss()
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        try:
            out = self.fn(event, context) if self.wants_context else self.fn(event)
            if inspect.isawaitable(out):
                out = self.loop.run_until_complete(_await(out))
            handler_ms = (time.perf_counter() - t0) * 1000
            try:
                payload = json.dumps(out, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
                size = len(payload.encode("utf-8"))
                if size > self.max_result:
                    payload = {
                        "kind": "result_too_large",
                        "name": "ValueError",
                        "message": "the handler's result is %d bytes of JSON, over the %d byte limit" % (size, self.max_result),
                        "stack": [],
                    }
                else:
                    ok = True
            except MemoryError:
                raise
            except Exception as exc:  # TypeError: not serializable; ValueError: NaN/Infinity, circular
                payload = {
                    "kind": "invalid_result",
                    "name": type(exc).__name__,
                    "message": "the handler's result is not JSON-serializable: %s" % _safe_str(exc),
                    "stack": [],
                }
        except MemoryError as exc:
            handler_ms = (time.perf_counter() - t0) * 1000
            payload = self.describe(exc, "out_of_memory")
            recycle = True
        except OSError as exc:
            # ENOMEM from mmap() and friends is the address-space cap too.
            handler_ms = (time.perf_counter() - t0) * 1000
            oom = exc.errno == errno.ENOMEM
            payload = self.describe(exc, "out_of_memory" if oom else "handler_error")
            recycle = oom
        except BaseException as exc:  # noqa: B036 - SystemExit and KeyboardInterrupt fail the invocation too
            handler_ms = (time.perf_counter() - t0) * 1000
            payload = self.describe(exc, "handler_error")
            if isinstance(exc, SystemExit):
                payload["message"] = "the function called exit(%s)" % (_safe_str(exc.code),)
                recycle = True
        cpu_ms = (_cpu_seconds() - cpu0) * 1000
        peak = _peak_rss_bytes()
        for stream in (sys.stdout, sys.stderr, _real_stdout, _real_stderr):
            try:
                stream.flush()
            except Exception:
                pass
        now = _written_bytes() if self.quiet_since >= 0 else -1
        marks = 0 if now >= 0 and now - self.quiet_since == self.own_writes else self._markers(msg["nonce"])
        _current = None  # progress reported after the result (a leftover thread) is dropped
        stray = _stray_processes(self.config.get("count_processes"))
        threads = _stray_threads(self.threads0) + self._pending_async()
        head = '{"type":"result","id":%d,"nonce":%s,"stray_processes":%d,"stray_threads":%d,"handler_ms":%r,"cpu_ms":%r,"peak_rss_bytes":%d,"marks":%d' % (
            msg["id"],
            json.dumps(msg["nonce"]),
            stray,
            threads,
            handler_ms,
            cpu_ms,
            peak,
            marks,
        )
        if ok:
            _send(head + ',"ok":true,"result":' + payload + "}")
        else:
            _send(head + ',"ok":false,"recycle":%s,"error":%s}' % ("true" if recycle else "false", json.dumps(payload)))
        self.quiet_since = _written_bytes()


async def _await(awaitable):
    return await awaitable


def main():
    # Output line by line, as the user prints it: the parent stamps each line when it arrives, and a
    # process killed mid-run (timeout, out of memory) has not lost its last lines in a buffer.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    host = None
    while True:
        line = _reader.readline()
        if not line:
            os._exit(0)  # the parent went away: leave with it
        msg = json.loads(line)
        kind = msg.get("type")
        if kind == "invoke" and host is not None:
            host.invoke(msg)
        elif kind == "init":
            host = Host(msg)
            try:
                reply = host.load()
            except MemoryError as exc:
                reply = {"type": "load_error", "error": host.describe(exc, "out_of_memory")}
            except BaseException as exc:  # noqa: B036
                reply = {"type": "load_error", "error": host.describe(exc, "load_error")}
            _send(json.dumps(reply))


if __name__ == "__main__":
    main()

"""Faultline's Python worker: runs Chaos Toolkit Python activities and controls.

One worker runs per Faultline run, started lazily by src/python/worker.ts as
`<python> -u faultline_worker.py [--max-line-bytes N] [--parent-pid N]`. It
speaks line-delimited JSON: requests on stdin, replies on stdout (the protocol
is documented in docs/python-worker.md). Standard library only, Python 3.8+.
"""

import os
import sys

# sys.path must be what the user's Python would have (PYTHONPATH, the virtual
# environment, site-packages): running this file put our own directory first,
# where nothing of the user's lives. The chaoslib stand-in goes last so that an
# installed chaostoolkit-lib always wins over it.
_HERE = os.path.dirname(os.path.realpath(__file__))
if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == _HERE:
    del sys.path[0]
sys.path.append(os.path.join(_HERE, "shim"))

import json  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

PROTOCOL_VERSION = 1
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
# Deeper values are refused rather than risking a RecursionError (or a C stack
# overflow in json) in a call thread; real activity arguments are a few levels deep.
MAX_DEPTH = 200
_MAX_SAFE_INT = 2**53 - 1


def _parse_argv(argv):
    max_line = DEFAULT_MAX_LINE_BYTES
    parent = 0
    i = 0
    while i < len(argv):
        if argv[i] == "--max-line-bytes" and i + 1 < len(argv):
            max_line = max(1024, int(argv[i + 1]))
            i += 2
        elif argv[i] == "--parent-pid" and i + 1 < len(argv):
            parent = int(argv[i + 1])
            i += 2
        else:
            i += 1
    return max_line, parent


MAX_LINE_BYTES, PARENT_PID = _parse_argv(sys.argv[1:])
# User code sees a plain script invocation, not our flags.
sys.argv = sys.argv[:1]

# The protocol channels are private duplicates of fds 0 and 1 (os.dup makes
# them non-inheritable). fd 1 becomes a copy of stderr, so anything user code
# prints, even from C or from a subprocess inheriting fd 1, lands on stderr and
# never in a reply; fd 0 becomes /dev/null so user code reading stdin cannot
# swallow requests. sys.stdout and sys.stdin keep wrapping fds 1 and 0, so they
# follow the redirection without being replaced.
_PROTO_OUT = os.dup(1)
_PROTO_IN = os.dup(0)
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)

_write_lock = threading.Lock()


def _die():
    """Ends the worker and everything it started.

    The worker is its process group's leader (the client spawns it detached),
    so killing the group reaches the subprocesses user code started. When it is
    not the leader (run by hand), only the worker exits: the group is someone else's.
    """
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(0)


def _on_signal(signum, frame):
    _die()


def _watch_parent():
    # Linux: a SIGTERM when the runner dies, even if the pipe's EOF is not seen
    # (best effort: no ctypes, no libc, another OS). SIGTERM rather than SIGKILL
    # so the handler above takes the subprocesses down with the worker.
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        return
    # The runner may have died before prctl took effect. (Whether it is still
    # alive, not whether it is the parent: a wrapper script may stand between.)
    if PARENT_PID:
        try:
            os.kill(PARENT_PID, 0)
        except ProcessLookupError:
            _die()
        except OSError:
            pass


def _send_bytes(data):
    with _write_lock:
        view = memoryview(data)
        try:
            while view:
                n = os.write(_PROTO_OUT, view)
                view = view[n:]
        except OSError:
            # The runner closed its end: nobody is left to answer to.
            _die()


def _dumps(obj):
    # ensure_ascii: a lone surrogate from user data cannot be encoded as UTF-8,
    # but survives as a \\udxxx escape (and JavaScript reads it back as one).
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _send(obj):
    _send_bytes(_dumps(obj) + b"\n")


# ---------------------------------------------------------------- value codec


class Unsendable(Exception):
    """A value that cannot cross to the runner (too deep)."""


def _key(k):
    # The keys json.dumps would write for the same dict.
    if isinstance(k, str):
        return k
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, float):
        return repr(k)
    return str(k)


def _safe_repr(v):
    try:
        return repr(v)
    except Exception:
        try:
            return "<unrepresentable %s object>" % type(v).__qualname__
        except Exception:
            return "<unrepresentable object>"


def _float(v):
    if v != v:
        return {"$float": "nan"}
    if v in (float("inf"), float("-inf")):
        return {"$float": "inf" if v > 0 else "-inf"}
    return float(v)


def encode(v, depth=0, path=None):
    """A Python value as JSON the runner decodes (docs/python-worker.md, value codec)."""
    t = type(v)
    if v is None or t is str or t is bool:
        return v
    if t is int:
        return v if -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT else {"$int": str(v)}
    if t is float:
        return _float(v)
    if depth >= MAX_DEPTH:
        raise Unsendable("the value is nested deeper than %d levels" % MAX_DEPTH)
    if t is dict or t is list or t is tuple or isinstance(v, (dict, list, tuple, set, frozenset)):
        if path is None:
            path = set()
        if id(v) in path:
            # A container holding itself: shown the way repr() shows it.
            return {"$repr": "{...}" if isinstance(v, dict) else "[...]"}
        path.add(id(v))
        try:
            if isinstance(v, dict):
                out = {}
                for k, x in v.items():
                    out[_key(k)] = encode(x, depth + 1, path)
                if len(out) == 1:
                    k = next(iter(out))
                    if k[:1] == "$":
                        # A user dict that looks like a tag travels escaped.
                        return {"$dict": [[k, out[k]]]}
                return out
            return [encode(x, depth + 1, path) for x in v]
        finally:
            path.discard(id(v))
    # Subclasses of the JSON types (IntEnum, str enums, ...) are what json.dumps
    # would write: their plain value.
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return encode(int(v))
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        import base64

        return {"$bytes": base64.b64encode(bytes(v)).decode("ascii")}
    # Chaos Toolkit's journal encoder: dates as ISO 8601, Decimal and UUID as
    # strings. A value of these types implies its module is already imported.
    dt = sys.modules.get("datetime")
    if dt is not None and isinstance(v, dt.date):
        return v.isoformat()
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(v, dec.Decimal):
        return str(v)
    uu = sys.modules.get("uuid")
    if uu is not None and isinstance(v, uu.UUID):
        return str(v)
    return {"$repr": _safe_repr(v)}


def _decode_tag(d):
    """json object_hook: the tagged objects the runner sends, as Python values."""
    if len(d) != 1:
        return d
    k, x = next(iter(d.items()))
    if k[:1] != "$":
        return d
    if k == "$bytes" and isinstance(x, str):
        import base64

        return base64.b64decode(x.encode("ascii"), validate=True)
    if k == "$int" and isinstance(x, str):
        return int(x)
    if k == "$float" and x in ("nan", "inf", "-inf"):
        return float(x)
    if k == "$dict" and isinstance(x, list) and all(isinstance(p, list) and len(p) == 2 for p in x):
        return {p[0]: p[1] for p in x}
    if k == "$repr" and isinstance(x, str):
        return x
    raise ValueError("unknown or malformed tagged value %s" % json.dumps(k))


# ---------------------------------------------------------------- calls

_params_cache = {}


def _params(func):
    """The parameter names of func's signature (what Chaos Toolkit checks by name)."""
    try:
        return _params_cache[func]
    except (KeyError, TypeError):
        pass
    import inspect

    try:
        names = frozenset(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        names = frozenset()
    try:
        _params_cache[func] = names
    except TypeError:
        pass
    return names


def _summary(x):
    """`<Type>: <message>` as Chaos Toolkit words ActivityFailed (format_exception_only's line)."""
    for line in traceback.format_exception_only(type(x), x):
        if not line.startswith(" "):
            return line.strip()
    return type(x).__name__


def _is_interrupt(x):
    return any(c.__name__ == "InterruptExecution" for c in type(x).__mro__)


def _error(x):
    tb = x.__traceback__
    # The worker's own frames come first; the user sees only theirs.
    while tb is not None and tb.tb_frame.f_code.co_filename == _THIS_FILE:
        tb = tb.tb_next
    summary = _summary(x)
    lines = traceback.format_exception(type(x), x, tb)
    # Chaos Toolkit wraps the exception in ActivityFailed while handling it, so
    # its journal's `exception` ends with this chained tail.
    lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    lines.append("chaoslib.exceptions.ActivityFailed: %s\n" % summary)
    try:
        message = str(x)
    except Exception:
        message = "<exception str() failed>"
    t = type(x)
    return {
        "type": t.__name__,
        "qualname": "%s.%s" % (t.__module__, t.__qualname__),
        "message": message,
        "summary": summary,
        "traceback": lines,
        "interrupt": _is_interrupt(x),
    }


def _faultline_error(kind, message):
    return {
        "type": kind,
        "qualname": "faultline." + kind,
        "message": message,
        "summary": "%s: %s" % (kind, message),
        "traceback": [],
        "interrupt": False,
        "faultline": True,
    }


def _returned(names, kwargs, optional):
    out = {}
    for name in names:
        if name in kwargs:
            out[name] = encode(kwargs[name])
        elif name in optional:
            out[name] = encode(optional[name])
    return out


def _finish(rid, build):
    """Sends the reply build() makes, or says why it cannot be sent (too deep, too long)."""
    try:
        data = _dumps(build()) + b"\n"
    except Unsendable as x:
        data = _dumps({"id": rid, "ok": False, "error": _faultline_error("UnsendableValue", str(x))}) + b"\n"
    except Exception as x:
        error = _faultline_error("UnsendableValue", _summary(x))
        data = _dumps({"id": rid, "ok": False, "error": error}) + b"\n"
    if len(data) - 1 > MAX_LINE_BYTES:
        message = "the reply is %d bytes, over the limit of %d bytes a line (maxLineBytes)" % (
            len(data) - 1,
            MAX_LINE_BYTES,
        )
        data = _dumps({"id": rid, "ok": False, "error": _faultline_error("ReplyTooLarge", message)}) + b"\n"
    _send_bytes(data)


def _call(req):
    rid = req["id"]
    module_name = req["module"]
    func_name = req["func"]
    kwargs = req["kwargs"]
    optional = req["optional"]
    missing_ok = req["missing_ok"]
    returning = req["return"]
    try:
        import importlib

        try:
            module = importlib.import_module(module_name)
        except BaseException as x:
            if not missing_ok:
                raise
            message = _summary(x)
            return _finish(rid, lambda: {"id": rid, "ok": True, "missing": "module", "message": message})
        func = getattr(module, func_name, _MISSING)
        if func is _MISSING:
            message = "'%s' does not expose a function called '%s'" % (module_name, func_name)
            if missing_ok:
                return _finish(rid, lambda: {"id": rid, "ok": True, "missing": "function", "message": message})
            raise AttributeError(message)
        if not callable(func):
            raise TypeError("'%s.%s' is not callable" % (module_name, func_name))
        args = dict(kwargs)
        if optional:
            params = _params(func)
            for name, value in optional.items():
                if name in params:
                    args[name] = value
        value = func(**args)
    except BaseException as x:
        # BaseException too: a SystemExit or KeyboardInterrupt raised by user
        # code in this thread would otherwise leave its call unanswered.
        reply = {"id": rid, "ok": False, "error": _error(x)}
        if returning:
            try:
                reply["returned"] = _returned(returning, kwargs, optional)
            except Exception:
                pass  # the error matters more than the objects it left behind
        return _finish(rid, lambda: reply)
    _finish(
        rid,
        lambda: {
            "id": rid,
            "ok": True,
            "value": encode(value),
            "returned": _returned(returning, kwargs, optional) if returning else {},
        },
    )


_MISSING = object()
_THIS_FILE = _call.__code__.co_filename


def _thread_main(req):
    try:
        _call(req)
    except BaseException as x:
        # Only a bug of ours gets here; the call must still be answered.
        try:
            _send({"id": req["id"], "ok": False, "error": _faultline_error("WorkerError", _summary(x))})
        except BaseException:
            pass


# Each call runs in a thread of its own: a safeguard's probe must run while a
# long action runs, and the main thread must keep reading (to see EOF). A
# thread that finished a call waits for the next one instead of exiting:
# starting a thread costs more than the rest of a no-op call.
_MAX_IDLE_THREADS = 8
_pool_lock = threading.Lock()
_idle = 0
_tasks = None


def _submit(req):
    global _idle, _tasks
    with _pool_lock:
        if _idle > 0:
            _idle -= 1
            _tasks.put(req)
            return
    threading.Thread(target=_pool_thread, args=(req,), daemon=True).start()


def _pool_thread(req):
    global _idle, _tasks
    while True:
        _thread_main(req)
        with _pool_lock:
            if _idle >= _MAX_IDLE_THREADS:
                return
            if _tasks is None:
                import queue

                _tasks = queue.SimpleQueue()
            _idle += 1
        req = _tasks.get()


# ---------------------------------------------------------------- requests


def _protocol_error(rid, message):
    _send({"id": rid, "ok": False, "error": _faultline_error("ProtocolError", message)})


def _id_of(line):
    """The id of a request that cannot be parsed, when its text starts with one."""
    import re

    m = re.match(rb'\s*\{\s*"id"\s*:\s*(-?\d{1,18})\s*[,}]', line)
    return int(m.group(1)) if m else None


def _check(req):
    """The request's problem, or None. Fills in the optional fields' defaults."""
    if req.get("op") != "call":
        return "unknown op %s (expected \"call\")" % json.dumps(req.get("op"))[:100]
    for field in ("module", "func"):
        if not isinstance(req.get(field), str) or not req[field]:
            return "field %s: expected a non-empty string" % field
    for field in ("kwargs", "optional"):
        req.setdefault(field, {})
        if not isinstance(req[field], dict):
            return "field %s: expected an object" % field
    req.setdefault("return", [])
    if not isinstance(req["return"], list) or not all(isinstance(n, str) for n in req["return"]):
        return "field return: expected a list of strings"
    req.setdefault("missing_ok", False)
    if not isinstance(req["missing_ok"], bool):
        return "field missing_ok: expected a boolean"
    return None


def _handle(line):
    try:
        req = json.loads(line, object_hook=_decode_tag)
    except RecursionError:
        return _protocol_error(_id_of(line), "the request is nested too deeply")
    except Exception as x:
        # Also UnicodeDecodeError and a malformed tagged value.
        return _protocol_error(_id_of(line), "the request is not valid JSON: %s" % _summary(x))
    if not isinstance(req, dict):
        return _protocol_error(None, "a request must be a JSON object, got %s" % type(req).__name__)
    rid = req.get("id")
    if type(rid) is not int:
        return _protocol_error(None, "field id: expected an integer")
    problem = _check(req)
    if problem:
        return _protocol_error(rid, problem)
    _submit(req)


def _discard_rest(stream):
    """Reads up to the end of an over-long line, a bounded piece at a time."""
    while True:
        piece = stream.readline(1 << 20)
        if not piece or piece.endswith(b"\n"):
            return


def main():
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    _watch_parent()
    stream = os.fdopen(_PROTO_IN, "rb", buffering=1 << 16)
    v = sys.version_info
    _send(
        {
            "ready": True,
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "python": "%d.%d.%d" % (v[0], v[1], v[2]),
            "executable": sys.executable,
        }
    )
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            break
        try:
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                rid = _id_of(line)
                _discard_rest(stream)
                _protocol_error(rid, "the request is longer than %d bytes (maxLineBytes)" % MAX_LINE_BYTES)
                continue
            if line.strip():
                _handle(line)
        except Exception as x:
            try:
                _protocol_error(None, "the request could not be handled: %s" % _summary(x))
            except Exception:
                pass
    # EOF: the runner closed the pipe or died. Nothing the worker started may outlive it.
    _die()


if __name__ == "__main__":
    main()

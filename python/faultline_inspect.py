"""Faultline's one-shot Python inspector.

Reads one JSON request on stdin and writes one JSON reply on stdout, then
exits. Two operations:

- ``check``: for each item ``{"id", "module", "func"}`` say whether the module
  can be found, whether it exposes the function and what the function's
  parameters are, the way Chaos Toolkit's validation would see them. By
  default NOTHING of the user's is executed: modules are located through the
  import system's finders (which read directories, not code) and their source
  is read with ``ast``. Only modules that were already loaded when the
  interpreter started, and builtin modules, are looked at live (importing
  them runs no user code). With ``"import": true`` the modules are imported as
  Chaos Toolkit imports them (their top-level code runs).
- ``discover``: import a package (an explicit request of the user) and list
  its activities, through its own ``discover(discover_system=False)`` when it
  has one (Chaos Toolkit extensions do), else from its modules' functions.

Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; never a
traceback. Runs on Python 3.8+ with the standard library only.
"""

import sys

# Taken first: these modules had already run when the interpreter started
# (site, os, encodings...), so looking at them executes nothing new.
_STARTUP_MODULES = frozenset(sys.modules) - {"__main__"}

import os  # noqa: E402  (already loaded at startup: importing it runs nothing)

_HERE = os.path.dirname(os.path.abspath(__file__))

# The script's own directory must not shadow the user's modules, and the
# chaoslib shim must lose to a real chaostoolkit-lib: it goes last.
if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == _HERE:
    del sys.path[0]
sys.path.append(os.path.join(_HERE, "shim"))


def _pythonpath_entries():
    if sys.flags.ignore_environment:
        return set()
    value = os.environ.get("PYTHONPATH", "")
    return {os.path.abspath(p) for p in value.split(os.pathsep)}


# The inspector's own standard-library imports are made with the user's
# PYTHONPATH entries out of sys.path: a user directory holding a `json.py`
# would otherwise be executed by plain validation.
_saved_path = sys.path[:]
_hidden = _pythonpath_entries()
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in _hidden]
try:
    import ast
    import importlib
    import importlib.machinery
    import importlib.util
    import inspect
    import io
    import json
    import tokenize
finally:
    sys.path[:] = _saved_path

# Source files larger than this are not parsed: a module is code, not data.
MAX_SOURCE_BYTES = 16 * 1024 * 1024
# Requests larger than this are refused (a request names modules and functions).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# How many `from x import f` hops are followed before giving up.
MAX_HOPS = 8
# Messages quoting user text or exceptions are cut to this length.
MAX_TEXT = 300


class RequestError(Exception):
    """The request itself is malformed: reported as {"ok": false}."""


def _cut(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _exc_text(exc):
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return _cut("%s: %s" % (type(exc).__name__, first) if first else type(exc).__name__)


def _is_dotted_name(name):
    return (
        isinstance(name, str)
        and 0 < len(name) <= 500
        and all(part.isidentifier() for part in name.split("."))
    )


# ---------------------------------------------------------------- signatures


def _params_from_signature(sig):
    return [
        {
            "name": p.name,
            "kind": p.kind.name.lower(),
            "default": p.default is not inspect.Parameter.empty,
        }
        for p in sig.parameters.values()
    ]


def _params_from_ast(args):
    out = []
    posonly = list(getattr(args, "posonlyargs", []))
    positional = posonly + list(args.args)
    padded = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, padded)):
        kind = "positional_only" if i < len(posonly) else "positional_or_keyword"
        out.append({"name": arg.arg, "kind": kind, "default": default is not None})
    if args.vararg is not None:
        out.append({"name": args.vararg.arg, "kind": "var_positional", "default": False})
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append({"name": arg.arg, "kind": "keyword_only", "default": default is not None})
    if args.kwarg is not None:
        out.append({"name": args.kwarg.arg, "kind": "var_keyword", "default": False})
    return out


def _live_function(module, func, use_getattr):
    """Chaos Toolkit accepts a function or a builtin found on the module."""
    if use_getattr:
        obj = getattr(module, func, None)
    else:
        # vars(): a module-level __getattr__ is user code and must not run.
        obj = vars(module).get(func)
    if obj is None or not (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
        return {"status": "no-func"}
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {"status": "unchecked", "reason": "no-signature"}
    return {"status": "ok", "params": _params_from_signature(sig), "how": "live"}


# ---------------------------------------------------------------- locating modules without importing them


def _find_spec(fullname, path):
    """What `import` would consult, minus the execution: the meta path finders."""
    if path is None and fullname in sys.modules and fullname not in _STARTUP_MODULES:
        # Loaded by the inspector itself (ast, json...): its spec says where it lives.
        spec = getattr(sys.modules[fullname], "__spec__", None)
        if spec is not None:
            return spec
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(fullname, path)
        if spec is not None:
            return spec
    return None


class Located(object):
    """Where a module was found: live (already loaded), or a spec to read."""

    def __init__(self, name, module=None, spec=None):
        self.name = name
        self.module = module
        self.spec = spec


def locate(name):
    """A Located, or None when the module cannot be found. Executes no module."""
    if name in _STARTUP_MODULES and name in sys.modules:
        # os.path is loaded under that name although os is no package.
        return Located(name, module=sys.modules[name])
    parts = name.split(".")
    path = None
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if full in _STARTUP_MODULES and full in sys.modules:
            module = sys.modules[full]
            if last:
                return Located(full, module=module)
            path = getattr(module, "__path__", None)
            if path is None:
                return None
            continue
        if i == 0 and full in sys.builtin_module_names:
            if not last:
                return None
            # Builtin modules are compiled into the interpreter: no user code.
            return Located(full, module=importlib.import_module(full))
        spec = _find_spec(full, path)
        if spec is None:
            return None
        if last:
            return Located(full, spec=spec)
        path = spec.submodule_search_locations
        if path is None:
            return None
    return None


def _is_extension(spec):
    if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return True
    origin = spec.origin or ""
    return any(origin.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES)


def _is_namespace(spec):
    return spec.submodule_search_locations is not None and spec.origin in (None, "namespace")


def _read_source(spec):
    """(source, filename) or (None, reason) for a located module spec."""
    origin = spec.origin
    if origin and origin.endswith((".py", ".pyw")):
        if not os.path.isfile(origin):
            return None, "other"
        if os.path.getsize(origin) > MAX_SOURCE_BYTES:
            return None, "too-large"
        with tokenize.open(origin) as f:
            return f.read(), origin
    if isinstance(spec.loader, importlib.machinery.SourcelessFileLoader):
        return None, "compiled"
    state = getattr(spec, "loader_state", None)
    filename = getattr(state, "filename", None)
    if spec.origin == "frozen" and filename and os.path.isfile(filename):
        # Frozen standard-library modules (3.11+) keep their source next to them.
        with tokenize.open(filename) as f:
            return f.read(), filename
    get_source = getattr(spec.loader, "get_source", None)
    if get_source is not None and type(spec.loader).__name__ == "zipimporter":
        source = get_source(spec.name)
        if source is not None:
            return source, origin or spec.name
    return None, "other"


# ---------------------------------------------------------------- reading a module's top level with ast


class ModuleSource(object):
    """The top-level bindings of a module's source, read without executing it."""

    def __init__(self, name, tree, is_package):
        self.name = name
        self.is_package = is_package
        self.bindings = {}
        self.star_imports = []
        self._walk(tree.body)

    def _bind(self, name, what):
        self.bindings[name] = what  # the textually last binding wins

    def _walk(self, body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind(node.name, ("def", node))
            elif isinstance(node, ast.ClassDef):
                self._bind(node.name, ("class", node))
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(node.module, node.level)
                for alias in node.names:
                    if alias.name == "*":
                        self.star_imports.append(source)
                    else:
                        self._bind(alias.asname or alias.name, ("from", source, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    self._bind(bound, ("module",))
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                for target in targets:
                    for name in _assigned_names(target):
                        if isinstance(target, ast.Name) and isinstance(value, ast.Name):
                            self._bind(name, ("alias", value.id))
                        elif isinstance(target, ast.Name) and isinstance(value, ast.Lambda):
                            self._bind(name, ("lambda", value))
                        else:
                            self._bind(name, ("dynamic",))
            elif isinstance(node, ast.If):
                self._walk(node.body)
                self._walk(node.orelse)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                self._walk(node.body)
                for handler in node.handlers:
                    self._walk(handler.body)
                self._walk(node.orelse)
                self._walk(node.finalbody)
            elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
                if isinstance(node, (ast.For, ast.AsyncFor)):
                    for name in _assigned_names(node.target):
                        self._bind(name, ("dynamic",))
                self._walk(node.body)
                self._walk(getattr(node, "orelse", []))

    def _absolute(self, module, level):
        if not level:
            return module
        package = self.name if self.is_package else self.name.rpartition(".")[0]
        parts = package.split(".") if package else []
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)]
        if module:
            base.append(module)
        return ".".join(base) or None


def _assigned_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        out = []
        for element in target.elts:
            out.extend(_assigned_names(element))
        return out
    if isinstance(target, ast.Starred):
        return _assigned_names(target.value)
    return []


class StaticChecker(object):
    """Answers check items without executing user code; caches per module."""

    def __init__(self):
        self._located = {}
        self._sources = {}

    def located(self, name):
        if name not in self._located:
            try:
                self._located[name] = locate(name)
            except Exception:
                # A broken finder or an unreadable directory: import would fail too.
                self._located[name] = None
        return self._located[name]

    def source(self, located):
        """A ModuleSource, or a result dict saying why there is none."""
        name = located.name
        if name not in self._sources:
            self._sources[name] = self._parse(name, located.spec)
        return self._sources[name]

    def _parse(self, name, spec):
        if _is_extension(spec):
            return {"status": "unchecked", "reason": "extension"}
        if _is_namespace(spec):
            return {"status": "namespace"}
        try:
            text, filename = _read_source(spec)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            # SyntaxError here: a bad coding cookie.
            return {"status": "unchecked", "reason": "unreadable", "detail": _exc_text(exc)}
        if text is None:
            return {"status": "unchecked", "reason": filename}
        try:
            tree = ast.parse(text, filename=filename)
        except SyntaxError as exc:
            where = "line %s" % exc.lineno if exc.lineno else "an unknown line"
            detail = "%s at %s: %s" % (_cut(filename), where, _cut(exc.msg))
            return {"status": "error", "reason": "syntax", "detail": detail}
        except (ValueError, RecursionError, MemoryError) as exc:
            return {"status": "unchecked", "reason": "unreadable", "detail": _exc_text(exc)}
        return ModuleSource(name, tree, spec.submodule_search_locations is not None)

    def check(self, module, func):
        located = self.located(module)
        if located is None:
            return {"status": "no-module"}
        if func is None:
            return {"status": "found"}
        return self.function(located, func, 0, set())

    def function(self, located, func, hops, seen):
        if located.module is not None:
            return _live_function(located.module, func, use_getattr=False)
        src = self.source(located)
        if isinstance(src, dict):
            # A namespace package holds no functions; other reasons pass through.
            return {"status": "no-func"} if src["status"] == "namespace" else src
        return self.binding(src, func, hops, seen)

    def binding(self, src, func, hops, seen):
        key = (src.name, func)
        if key in seen or hops > MAX_HOPS:
            return {"status": "unchecked", "reason": "imported", "detail": src.name}
        seen.add(key)
        bound = src.bindings.get(func)
        if bound is None:
            return self.unbound(src, func, hops, seen)
        kind = bound[0]
        if kind == "def":
            node = bound[1]
            result = {"status": "ok", "params": _params_from_ast(node.args), "how": "static"}
            if node.decorator_list:
                result["decorated"] = True
            return result
        if kind == "lambda":
            return {"status": "ok", "params": _params_from_ast(bound[1].args), "how": "static"}
        if kind == "alias":
            return self.binding(src, bound[1], hops + 1, seen)
        if kind in ("class", "module"):
            # Chaos Toolkit accepts functions and builtins only.
            return {"status": "no-func"}
        if kind == "from":
            return self.imported(bound[1], bound[2], hops, seen)
        return {"status": "unchecked", "reason": "dynamic"}

    def imported(self, source, name, hops, seen):
        """`from source import name`: the name in source, or the submodule source.name."""
        if source is None:
            return {"status": "unchecked", "reason": "imported", "detail": "?"}
        located = self.located(source)
        if located is None:
            return {"status": "unchecked", "reason": "imported", "detail": source}
        if located.module is not None:
            return _live_function(located.module, name, use_getattr=False)
        src = self.source(located)
        if isinstance(src, dict):
            if src["status"] == "namespace" and self.located(source + "." + name) is not None:
                return {"status": "no-func"}
            return {"status": "unchecked", "reason": "imported", "detail": source}
        if name not in src.bindings and self.located(source + "." + name) is not None:
            return {"status": "no-func"}  # a submodule, not a function
        result = self.binding(src, name, hops + 1, seen)
        if result["status"] == "no-func" and name not in src.bindings:
            # The import itself would fail, or the name comes from somewhere we cannot see.
            return {"status": "unchecked", "reason": "imported", "detail": source}
        return result

    def unbound(self, src, func, hops, seen):
        undecided = False
        for source in reversed(src.star_imports):
            located = self.located(source) if source else None
            if located is None:
                undecided = True
                continue
            result = self.function(located, func, hops + 1, seen)
            if result["status"] != "no-func":
                return result
        if undecided:
            return {"status": "unchecked", "reason": "imported", "detail": "*"}
        if "__getattr__" in src.bindings:
            return {"status": "unchecked", "reason": "dynamic"}
        return {"status": "no-func"}


# ---------------------------------------------------------------- importing (only when asked)


def _missing_module(exc, module):
    """Was it `module` (or a parent) that could not be found, not one of its imports?"""
    missing = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not missing:
        return False
    return module == missing or module.startswith(missing + ".")


def _import(module):
    """(module, None) or (None, result dict); runs the module's top-level code."""
    try:
        return importlib.import_module(module), None
    except BaseException as exc:  # noqa: B902  (a module may raise anything, SystemExit included)
        if isinstance(exc, KeyboardInterrupt):
            raise
        if _missing_module(exc, module):
            return None, {"status": "no-module"}
        return None, {"status": "error", "reason": "import", "detail": _exc_text(exc)}


def check_by_import(module, func):
    mod, failed = _import(module)
    if failed is not None:
        return failed
    if func is None:
        return {"status": "found"}
    try:
        return _live_function(mod, func, use_getattr=True)
    except Exception as exc:
        return {"status": "error", "reason": "import", "detail": _exc_text(exc)}


# ---------------------------------------------------------------- discover


def _json_safe(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _portable_type(annotation):
    """Chaos Toolkit's portable type names, for functions listed without discover()."""
    try:
        from chaoslib.discovery.discover import portable_type_name
    except ImportError:
        # An installed chaostoolkit-lib older than portable_type_name: the stand-in's own, by path.
        import importlib.util
        path = os.path.join(_HERE, "shim", "chaoslib", "discovery", "discover.py")
        spec = importlib.util.spec_from_file_location("_faultline_shim_discover", path)
        shim = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(shim)
        portable_type_name = shim.portable_type_name
    return portable_type_name(annotation)


def _activity_kind(module_name):
    leaf = module_name.rpartition(".")[2]
    return {"actions": "action", "probes": "probe"}.get(leaf, "function")


def _function_activity(mod_name, name, obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    arguments = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        arg = {"name": p.name}
        if p.default is not p.empty:
            arg["default"] = _json_safe(p.default)
        if p.annotation is not p.empty:
            arg["type"] = _portable_type(p.annotation)
        arguments.append(arg)
    return {
        "type": _activity_kind(mod_name),
        "name": name,
        "mod": mod_name,
        "doc": inspect.getdoc(obj) or "",
        "arguments": arguments,
    }


def _module_functions(mod):
    exported = getattr(mod, "__all__", None)
    out = []
    for name, obj in sorted(vars(mod).items()):
        if not inspect.isfunction(obj):
            continue
        if exported is not None:
            if name not in exported:
                continue
        elif name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue  # private, or imported from elsewhere
        activity = _function_activity(mod.__name__, name, obj)
        if activity is not None:
            out.append(activity)
    return out


# A package walked for its functions stops after this many modules.
MAX_WALKED_MODULES = 200


def _walk_functions(package):
    import pkgutil

    activities = _module_functions(package)
    skipped = []
    path = getattr(package, "__path__", None)
    if path is None:
        return activities, skipped
    names = []
    for info in pkgutil.walk_packages(path, package.__name__ + ".", onerror=lambda name: None):
        names.append(info.name)
        if len(names) >= MAX_WALKED_MODULES:
            break
    for name in names:
        mod, failed = _import(name)
        if failed is not None:
            skipped.append({"module": name, "reason": failed.get("detail", "not found")})
            continue
        activities.extend(_module_functions(mod))
    return activities, skipped


def _normalise_discovered(items):
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        arguments = []
        for arg in item.get("arguments") or []:
            if isinstance(arg, dict) and isinstance(arg.get("name"), str):
                clean = {"name": arg["name"]}
                if "default" in arg:
                    clean["default"] = _json_safe(arg["default"])
                if isinstance(arg.get("type"), str):
                    clean["type"] = arg["type"]
                arguments.append(clean)
        out.append({
            "type": item.get("type") if item.get("type") in ("action", "probe") else "function",
            "name": item["name"],
            "mod": str(item.get("mod") or ""),
            "doc": str(item.get("doc") or ""),
            "arguments": arguments,
        })
    return out


def _version_of(package, mod):
    version = getattr(mod, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        import importlib.metadata as metadata
    except ImportError:
        return None
    try:
        dists = getattr(metadata, "packages_distributions", lambda: {})().get(package, [package])
        for dist in dists:
            return metadata.version(dist)
    except Exception:
        return None
    return None


def discover(package):
    if not _is_dotted_name(package):
        raise RequestError("package: expected a Python module name (dotted identifiers)")
    mod, failed = _import(package)
    if failed is not None:
        if failed["status"] == "no-module":
            return {"found": False}
        return {"found": True, "error": "importing package '%s' failed: %s" % (package, failed["detail"])}
    extension = {"name": package, "version": _version_of(package, mod), "source": "modules"}
    discover_func = getattr(mod, "discover", None)
    skipped = []
    if callable(discover_func):
        try:
            result = discover_func(discover_system=False)
        except BaseException as exc:  # noqa: B902
            if isinstance(exc, KeyboardInterrupt):
                raise
            return {"found": True, "error": "%s.discover() failed: %s" % (package, _exc_text(exc))}
        if not isinstance(result, dict):
            return {"found": True, "error": "%s.discover() did not return a mapping" % package}
        activities = _normalise_discovered(result.get("activities"))
        declared = result.get("extension") if isinstance(result.get("extension"), dict) else {}
        extension["source"] = "discover"
        if isinstance(declared.get("name"), str):
            extension["name"] = declared["name"]
        if isinstance(declared.get("version"), str):
            extension["version"] = declared["version"]
    else:
        activities, skipped = _walk_functions(mod)
    return {"found": True, "extension": extension, "activities": activities, "skipped": skipped}


# ---------------------------------------------------------------- request handling


def _items(request):
    items = request.get("items")
    if not isinstance(items, list):
        raise RequestError("items: expected a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError("items[%d]: expected an object" % i)
        module, func = item.get("module"), item.get("func")
        if not isinstance(module, str) or not module:
            raise RequestError("items[%d].module: expected a non-empty string" % i)
        if func is not None and (not isinstance(func, str) or not func):
            raise RequestError("items[%d].func: expected a non-empty string or null" % i)
        out.append((item.get("id", i), module, func))
    return out


def check(request):
    by_import = request.get("import") is True
    static = StaticChecker()
    results = []
    for item_id, module, func in _items(request):
        if not _is_dotted_name(module):
            # import_module would refuse it as well: nothing by that name can exist.
            result = {"status": "no-module"}
        elif by_import:
            result = check_by_import(module, func)
        else:
            result = static.check(module, func)
        result["id"] = item_id
        results.append(result)
    return {"results": results}


def handle(raw):
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestError("the request is not JSON: %s" % _cut(exc))
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object")
    op = request.get("op")
    if op == "check":
        return check(request)
    if op == "discover":
        return discover(request.get("package"))
    raise RequestError("op: expected 'check' or 'discover', got %s" % _cut(json.dumps(op)[:60]))


def main():
    # The reply gets a private copy of stdout; fd 1 itself goes to stderr so
    # that whatever imported code prints cannot corrupt the JSON.
    reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    code = 0
    try:
        raw = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
        if len(raw) > MAX_REQUEST_BYTES:
            raise RequestError("the request is larger than %d bytes" % MAX_REQUEST_BYTES)
        answer = dict(handle(raw), ok=True)
    except RequestError as exc:
        answer, code = {"ok": False, "error": str(exc)}, 2
    except BaseException as exc:  # noqa: B902  (never a traceback: one JSON reply)
        answer, code = {"ok": False, "error": "internal error: %s" % _exc_text(exc)}, 1
    reply.write(json.dumps(answer, ensure_ascii=True, default=repr))
    reply.write("\n")
    reply.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())

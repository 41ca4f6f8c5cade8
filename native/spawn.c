/*
 * A fork-free process start for the `process` provider (docs/benchmarks.md, issue #14 item 3).
 *
 * Node 20's libuv starts every child with fork(), which copies the page tables of the whole Node
 * process (V8 reserves terabytes of address space): about 8-9 ms a spawn on the machines we measured,
 * against Python's 3-4 ms. glibc's posix_spawn() uses clone(CLONE_VM|CLONE_VFORK), whose cost does not
 * depend on the parent's size (libuv adopted it on Linux after 1.52; Node 20 ships 1.46).
 *
 * One function, with exactly the options the provider uses:
 *   spawn(file, argv, onExit) -> [pid, stdoutFd, stderrFd]
 * stdin is /dev/null, stdout and stderr are pipes whose read ends the caller owns (close-on-exec), the
 * child leads a new session (its own process group, as Node's `detached: true`), every signal is reset
 * to its default and unblocked (Node ignores SIGPIPE, and a child must not inherit that). A failure to
 * start throws an Error carrying the errno number (`errno`); the caller names it.
 * onExit(code, signal) is called once on the JS thread when the child ends: code -1 when a signal
 * (its number) ended it. A small detached thread per child waits for it: libuv reaps only the pids it
 * started itself, so it never takes this child's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
  pid_t pid;
  napi_threadsafe_function on_exit;
} waiter_t;

typedef struct {
  int code;
  int signal;
} outcome_t;

static void *wait_child(void *arg) {
  waiter_t *w = arg;
  int status = 0;
  pid_t r;
  do r = waitpid(w->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  outcome_t *out = malloc(sizeof *out);
  if (out != NULL) {
    if (r < 0) *out = (outcome_t){-1, 0};
    else if (WIFEXITED(status)) *out = (outcome_t){WEXITSTATUS(status), 0};
    else *out = (outcome_t){-1, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
    if (napi_call_threadsafe_function(w->on_exit, out, napi_tsfn_blocking) != napi_ok) free(out);
  }
  napi_release_threadsafe_function(w->on_exit, napi_tsfn_release);
  free(w);
  return NULL;
}

static void call_on_exit(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  outcome_t *out = data;
  if (env != NULL && fn != NULL) {
    napi_value argv[2], undefined;
    napi_create_int32(env, out->code, &argv[0]);
    napi_create_int32(env, out->signal, &argv[1]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, fn, 2, argv, NULL);
  }
  free(out);
}

/* A JS string as a malloc'd C string; NULL (with a pending TypeError) when it is not a string or holds a NUL. */
static char *c_string(napi_env env, napi_value v, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return s;
}

static void free_argv(char **argv, uint32_t n) {
  if (argv == NULL) return;
  for (uint32_t i = 0; i < n; i++) free(argv[i]);
  free(argv);
}

/* Throws an Error whose `errno` is the (positive) errno: spawn-native.ts names it as Node does. */
static void throw_errno(napi_env env, int err) {
  napi_value msg, error, number;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &number);
  napi_set_named_property(env, error, "errno", number);
  napi_throw(env, error);
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_valuetype fn_type = napi_undefined;
  bool is_array = false;
  if (argc == 3) {
    napi_typeof(env, args[2], &fn_type);
    napi_is_array(env, args[1], &is_array);
  }
  if (argc != 3 || !is_array || fn_type != napi_function) {
    napi_throw_type_error(env, NULL, "spawn(file: string, argv: string[], onExit: function)");
    return NULL;
  }

  char *file = c_string(env, args[0], "spawn: file must be a string without NUL");
  if (file == NULL) return NULL;
  uint32_t n = 0;
  napi_get_array_length(env, args[1], &n);
  char **argv = calloc((size_t)n + 1, sizeof(char *));
  if (argv == NULL) {
    free(file);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, args[1], i, &item);
    argv[i] = c_string(env, item, "spawn: every argument must be a string without NUL");
    if (argv[i] == NULL) {
      free_argv(argv, i);
      free(file);
      return NULL;
    }
  }

  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (out[i] >= 0) close(out[i]);
      if (err[i] >= 0) close(err[i]);
    }
    free_argv(argv, n);
    free(file);
    throw_errno(env, e);
    return NULL;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  /* dup2 clears close-on-exec on the child's 1 and 2; the pipes' own fds close at exec. */
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t every, none;
  sigfillset(&every);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &every);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, file, &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  free_argv(argv, n);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    free(file);
    throw_errno(env, rc);
    return NULL;
  }
  free(file);

  waiter_t *w = malloc(sizeof *w);
  napi_value name;
  napi_create_string_utf8(env, "faultline-spawn-wait", NAPI_AUTO_LENGTH, &name);
  pthread_attr_t thread_attr;
  pthread_t thread;
  int started = -1;
  if (w != NULL) {
    w->pid = pid;
    if (napi_create_threadsafe_function(env, args[2], NULL, name, 0, 1, NULL, NULL, NULL, call_on_exit,
                                        &w->on_exit) == napi_ok) {
      pthread_attr_init(&thread_attr);
      pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize(&thread_attr, 64 * 1024);
      started = pthread_create(&thread, &thread_attr, wait_child, w);
      pthread_attr_destroy(&thread_attr);
      if (started != 0) napi_release_threadsafe_function(w->on_exit, napi_tsfn_release);
    }
    if (started != 0) free(w);
  }
  if (started != 0) {
    /* Nobody could wait for it: end it and reap it here rather than leave a zombie nobody reports. */
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out[0]);
    close(err[0]);
    throw_errno(env, EAGAIN);
    return NULL;
  }

  napi_value result, v;
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, pid, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, out[0], &v);
  napi_set_element(env, result, 1, v);
  napi_create_int32(env, err[0], &v);
  napi_set_element(env, result, 2, v);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  return exports;
}

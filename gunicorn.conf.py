"""Gunicorn settings for Stappenplan: `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything is set through environment variables, so one image/checkout serves every
environment (see docs/deployment.md):

    PORT               port to listen on                      8000
    HOST               address to bind                        127.0.0.1 (0.0.0.0 in a container)
    WEB_CONCURRENCY    worker processes                       2 x CPU cores + 1
    SINGLE_PROCESS     1: exactly one worker (the app then may keep rate limits in memory)
    GUNICORN_THREADS   threads per worker                     4
    GUNICORN_TIMEOUT   seconds before a stuck worker is killed 30
    GUNICORN_MAX_REQUESTS  requests before a worker is recycled 2000 (0 = never)
    GUNICORN_KEEPALIVE seconds an idle keep-alive connection stays open 75
    LOG_FORMAT         json | plain (json by default in production)
    LOG_LEVEL          INFO

Why these choices:

* The app is synchronous (Flask + SQLAlchemy + psycopg), requests are short and
  spend much of their time waiting for PostgreSQL, and every open worksheet polls
  its change feed every 3 seconds. ``gthread`` workers fit that: a few threads per
  process overlap the database waits (the GIL is released while psycopg waits),
  idle keep-alive connections from the proxy wait in the worker's poller instead of
  holding a thread, and a slow request does not block the process's other requests.
  Async workers (gevent) would need every library to be green-safe (psycopg 3, the
  Argon2 C extension, WeasyPrint) for no gain on short requests.
* Processes give the real parallelism (one GIL each): ``2 x cores + 1`` keeps both
  cores busy while some threads wait on the database; 4 threads per worker gives
  5 x 4 = 20 requests in flight on 2 cores. The benchmark (bench/load.py, numbers in
  docs/deployment.md) compared this with fewer workers and more threads.
  Memory per worker is ~70-100 MB (WeasyPrint and the plan definitions are loaded);
  each login hashes with Argon2id using 19 MiB for ~0.05 s, so a worker that runs
  several logins at once briefly needs that much more - size threads with that in
  mind, not only the CPU count.
* Each worker has its own SQLAlchemy pool (5 + 10 overflow, at most one connection
  per busy thread), so PostgreSQL sees at most workers x threads connections per
  app server: 20 here. Keep (app servers x 20) well below max_connections, or put
  PgBouncer (transaction pooling) in between.
* ``preload_app``: the app is imported once in the master and the workers are
  forked from it, so they start fast (also after ``max_requests`` recycling), share
  the read-only pages of the code, and a broken release fails before it takes
  traffic. The price: new code needs a full restart (or USR2), not HUP. No database
  connection is opened while the app is created; ``post_worker_init`` still drops any
  pooled connection a worker might have inherited.
* ``max_requests`` + jitter recycles workers now and then, which bounds slow
  memory growth (fragmentation, caches) without all workers restarting at once.
* The access log is off: the app writes its own request line (JSON in production)
  with a request id, duration and organisation id (stappenplan/core/logging.py).
  Gunicorn's error log uses the same JSON format.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects CPU pinning / cgroups better than cpu_count()
    except (AttributeError, OSError):
        return os.cpu_count() or 1


wsgi_app = "wsgi:app"
bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"]

worker_class = "gthread"
# SINGLE_PROCESS=1 tells the app that its in-memory rate limits are the only ones (no
# Redis); more workers would each count their own, so there is exactly one.
_single_process = os.environ.get("SINGLE_PROCESS", "").strip().lower() in {"1", "true", "yes", "on", "ja"}
workers = 1 if _single_process else _int("WEB_CONCURRENCY", 2 * _cores() + 1)
threads = _int("GUNICORN_THREADS", 4)
# Open connections per worker (idle keep-alive ones included); the proxy keeps a few per worker.
worker_connections = 1000

timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than the proxy's upstream keepalive_timeout (nginx: 60 s), so the proxy
# never reuses a connection that gunicorn is closing at the same moment.
keepalive = _int("GUNICORN_KEEPALIVE", 75)

max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max(1, max_requests // 10)) if max_requests else 0

preload_app = True

# The heartbeat file lives in memory: on a disk-backed /tmp (containers) fchmod can stall a worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Gunicorn 25+ opens a control socket under $HOME by default; two servers on one host
# would fight over it. Opt in with GUNICORN_CONTROL_SOCKET=/path/to/socket.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# The proxy on the same host may set X-Forwarded-*; the app itself applies
# ProxyFix (TRUST_PROXY: the number of proxies, 1 in production), gunicorn only needs to trust loopback.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

proc_name = "stappenplan"

# --- logging -----------------------------------------------------------------
accesslog = None  # the app logs every request itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

_production = os.environ.get("STAPPENPLAN_ENV", "development") == "production"
_log_format = os.environ.get("LOG_FORMAT", "json" if _production else "plain").lower()
if _log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        # The app puts its own JSON handler on the root logger (core/logging.py).
        "root": {"level": loglevel.upper(), "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["json"], "propagate": False,
                               "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "formatters": {"json": {"()": "stappenplan.core.logging.JsonFormatter"}},
    }


def post_worker_init(worker):  # gunicorn hook
    """Never share a database connection with the master or a sibling worker (preload_app)."""
    app = getattr(worker, "wsgi", None)
    if app is None or not hasattr(app, "app_context"):
        return
    from stappenplan.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)


def _tune_malloc(log) -> None:
    """glibc's malloc, set once in the master (the workers inherit it with the fork):

    * at most two arenas per process (``MALLOC_ARENA_MAX=2``): each of a worker's threads
      would otherwise get an arena of its own, each keeping freed memory;
    * blocks of 128 KiB and more always from ``mmap``, so they go back to the system when
      freed. The default threshold grows to the largest block freed so far: after the
      first login, Argon2id's 19 MiB would come from the heap and stay with the worker.

    ``GUNICORN_TUNE_MALLOC=0`` leaves malloc as it is."""
    if os.environ.get("GUNICORN_TUNE_MALLOC", "1") == "0":
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return
    m_mmap_threshold, m_arena_max = -3, -8
    done = mallopt(m_arena_max, 2) == 1 and mallopt(m_mmap_threshold, 128 * 1024) == 1
    log.info("malloc: 2 arenas, blocks from 128 KiB mmapped" if done else "malloc: mallopt refused, left as is")


def when_ready(server):  # gunicorn hook: in the master, after the app was loaded, before any fork
    """preload_app: compile the templates once here, so no worker has to (core/templating.warm);
    then tune malloc and freeze what the master built, so the workers' garbage collector
    never writes to (and so copies) the pages they share with the master."""
    _tune_malloc(server.log)
    if not server.cfg.preload_app:
        return
    app = server.app.wsgi()
    if hasattr(app, "jinja_env"):
        from stappenplan.core.templating import warm

        server.log.info("compiled %d templates before forking the workers", warm(app))
    import gc

    gc.collect()
    gc.freeze()


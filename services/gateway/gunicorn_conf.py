"""gunicorn settings for the gateway (all from the environment)."""
import os
import shutil
import tempfile

from services.common import config as settings_module

# fail fast, with one line, on a bad setting (e.g. a short secret in production)
settings_module.load_or_exit(program="gateway")

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 10
# No access log. Should one be turned on (--access-logfile), its lines carry
# the path without the query string (%(U)s, never %(r)s or %(q)s) and no
# Referer: /signin?code=... must never put a sign-in code in a log.
accesslog = None
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
errorlog = "-"
loglevel = "info"

# the metrics folder the workers share: one of our own (removed at exit),
# unless the operator named one
OWN_METRICS_DIR = None
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    OWN_METRICS_DIR = tempfile.mkdtemp(prefix="coalition-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = OWN_METRICS_DIR


def on_exit(server):
    if OWN_METRICS_DIR:
        shutil.rmtree(OWN_METRICS_DIR, ignore_errors=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)

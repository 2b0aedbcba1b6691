"""Start one service: `python -m services.common.runner members`
(or any `package.module:ServiceClass`, as the tests do for a probe service).

Validates the settings first (one line naming a bad setting, exit 2), then
runs the nameko service until SIGTERM/SIGINT.
"""
import warnings

# eventlet warns that it is in maintenance mode on every start; nameko 2.14
# needs it, and that is a decision we made (see README), not news for operators
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from types import FrameType  # noqa: E402

from services.common import config as settings_module  # noqa: E402

# service name -> its nameko class (the names of vocabulary.SERVICES; a literal,
# which tests/unit/test_deploy_files.py reads without importing this module)
SERVICES = {
    "members": "services.members.service:MembersService",
    "consultations": "services.consultations.service:ConsultationsService",
    "grants": "services.grants.service:GrantsService",
    "notifications": "services.notifications.service:NotificationsService",
    "accounts": "services.accounts.service:AccountsService",
}


def service_class(name: str) -> type:
    """The class a service name (or `package.module:Class`) names."""
    module_name, _, cls = SERVICES.get(name, name).partition(":")
    found: type = getattr(importlib.import_module(module_name), cls)
    return found


def _queues_of_another_type(service: str, settings: settings_module.Settings) -> list[str]:
    """The service's own queues the broker holds with another type than
    QUEUE_TYPE (nameko would be refused them, with a less helpful error). A
    broker not reachable yet, or refusing the user or its vhost, is nameko's
    to wait for or report: no check then."""
    from amqp.exceptions import AMQPError
    from kombu.exceptions import OperationalError

    from services.common.queue_migration import mismatched, own_queues
    try:
        return mismatched(settings["AMQP_URI"], own_queues(service), settings)
    except (OSError, OperationalError, AMQPError) as exc:  # nameko reports it, as before
        logging.getLogger(__name__).warning("queue types not checked: %s", exc)
        return []


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or (argv[0] not in SERVICES and ":" not in argv[0]):
        sys.stderr.write(f"usage: python -m services.common.runner {{{','.join(SERVICES)}}}\n")
        return 2
    name = argv[0].rpartition(":")[0].rpartition(".")[2] if ":" in argv[0] else argv[0]
    settings = settings_module.load_or_exit(program=name)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kombu").setLevel(logging.WARNING)
    from nameko.runners import ServiceRunner

    service = service_class(argv[0])
    wrong = _queues_of_another_type(service.name, settings)  # type: ignore[attr-defined]
    if wrong:
        sys.stderr.write(
            f"{name}: the broker holds queue {wrong[0]} (and {len(wrong) - 1} more) as another "
            f"type than QUEUE_TYPE={settings['QUEUE_TYPE']}: stop every process and run "
            f"`coalition queues migrate --to {settings['QUEUE_TYPE']}` (docs/operator-guide.md, "
            "\"Queue types\")\n")
        return 2
    runner = ServiceRunner(settings_module.nameko_config(settings))
    runner.add_service(service)

    def shutdown(signum: int, frame: FrameType | None) -> None:
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    runner.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

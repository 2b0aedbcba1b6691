"""A timer whose long-running worker can end early when its service stops.

nameko stops a container in this order: it stops the entrypoints (a timer's
stop waits for its running worker), waits for every running worker, and only
then stops the dependency providers. So a worker that runs for a long time
(a drain of the mail queue) keeps the process alive until it ends, whatever
a DependencyProvider's stop() would say: too late, and the supervisor kills
the process 10 s after SIGTERM, in the middle of whatever it was doing.

    @every_until_stopped("MAIL_SEND_SECONDS")
    def send_mails(self, stopping: threading.Event) -> None: ...

The method gets `stopping`, set as soon as the container begins to stop
(before nameko waits for the worker), so it can end between two steps and
leave its unfinished work as it found it.
"""
import threading

from services.common.handlers import SettingTimer


class StoppableTimer(SettingTimer):
    """`every` (the interval from a setting), whose worker gets `stopping`."""

    def setup(self) -> None:
        super().setup()
        self.stopping = threading.Event()  # green under the runner's monkey-patching

    def stop(self) -> None:
        self.stopping.set()  # first: Timer.stop waits for the running worker
        super().stop()

    def kill(self) -> None:
        self.stopping.set()
        super().kill()

    def handle_timer_tick(self) -> None:
        self.container.spawn_worker(self, (self.stopping,), {},
                                    handle_result=self.handle_result)


every_until_stopped = StoppableTimer.decorator

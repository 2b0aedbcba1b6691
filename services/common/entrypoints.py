"""nameko's entrypoints, their durable queues declared as
services/common/queues.py says (QUEUE_TYPE), through nameko's own extension
points (subclasses; nameko itself is not patched):

- `rpc`: nameko's @rpc, its `rpc-<service>` queue by QUEUE_TYPE (the kit's
  @rpc in services/common/handlers.py wraps it);
- `event_handler`: nameko's SERVICE_POOL @event_handler, likewise;
- `dead_letter_consumer`: the consumer of the service's `dead-<service>` queue,
  where the broker dead-letters what went over its delivery limit.
"""
from functools import partial
from typing import Any, Callable, Mapping, TypeVar

from kombu import Exchange, Queue
from nameko.events import EventHandler as NamekoEventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer as NamekoRpcConsumer

from services.common.queues import dead_letter_exchange, dead_letter_queue, queue_arguments

F = TypeVar("F", bound=Callable[..., Any])


def dead_letters_exchange(service: str) -> Exchange:
    """The broker dead-letters `service`'s event messages into this fanout
    exchange (services/common/queues.py's policies); `dead-<service>` is bound to it."""
    return Exchange(dead_letter_exchange(service), type="fanout", durable=True)


def _with_arguments(queue: Any, config: Mapping[str, Any]) -> Any:
    """`queue` (a kombu Queue) declared with the arguments QUEUE_TYPE says;
    an exclusive or auto-delete one is left as it is (classic: RabbitMQ
    refuses those as quorum queues)."""
    if queue.exclusive or queue.auto_delete:
        return queue
    queue.queue_arguments = {**(queue.queue_arguments or {}), **queue_arguments(config)}
    return queue


class RpcConsumer(NamekoRpcConsumer):  # type: ignore[misc]  # nameko has no type information
    """nameko's RPC queue consumer; its `rpc-<service>` queue by QUEUE_TYPE."""

    def setup(self) -> None:
        if self.queue is None:
            super().setup()
            _with_arguments(self.queue, self.container.config)


class Rpc(NamekoRpc):  # type: ignore[misc]
    """nameko's @rpc entrypoint, served from our RpcConsumer."""
    rpc_consumer = RpcConsumer()


class EventHandler(NamekoEventHandler):  # type: ignore[misc]
    """nameko's SERVICE_POOL event handler; its queue by QUEUE_TYPE."""

    def setup(self) -> None:
        super().setup()
        _with_arguments(self.queue, self.container.config)


rpc = Rpc.decorator
event_handler = EventHandler.decorator


class DeadLetterConsumer(Consumer):  # type: ignore[misc]
    """Consumes the service's `dead-<service>` queue, bound to its fanout
    exchange `<service>.dead`, both declared at start. The handler gets the
    message body and its headers (`x-death` says which queue and why).
    The message is acked after the handler returns, so the handler must
    keep it first (it waits out an unreachable store)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queue=None, **kwargs)

    def setup(self) -> None:
        service = self.container.service_name
        self.queue = _with_arguments(Queue(dead_letter_queue(service), durable=True,
                                           exchange=dead_letters_exchange(service)),
                                     self.container.config)
        super().setup()

    def handle_message(self, body: Any, message: Any) -> None:
        headers = dict(message.headers or {})
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(self, (body, headers), {},
                                        context_data=self.unpack_message_headers(message),
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)


def dead_letter_consumer() -> Callable[[F], F]:
    """@dead_letter_consumer(): the method gets (payload, headers)."""
    decorator: Callable[[F], F] = DeadLetterConsumer.decorator()
    return decorator

"""The gateway in-process with its services faked, for unit tests."""


def serve_with(monkeypatch, fake):
    """The gateway's RPC calls answered by `fake(service, method, *args)`,
    every rate limit granted, and its background work recorded in
    `fake.submitted` instead of run; `fake`."""
    from services.gateway.background import Background
    from services.gateway.rpc import RpcPool
    from services.gateway.store import RateLimits
    monkeypatch.setattr(RpcPool, "call", lambda pool, *call, **named: fake(*call, **named))
    monkeypatch.setattr(RateLimits, "take", lambda self, action, client, limit: True)
    monkeypatch.setattr(Background, "submit",
                        lambda self, *call, request=None: fake.submitted.append(call) or True)
    return fake

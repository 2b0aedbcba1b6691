"""Services' answers for the gateway's unit tests, written as methods
`<service>_<method>` of a subclass, with every call recorded. The same
resolvers run on the real stack in tests/integration; these test the
gateway's own rules (who sees what) one by one."""


class RecordedServices:
    """`ctx.call`: answers `service.method(*args)` from `self.<service>_<method>`
    and records (service, method, args)."""

    def __init__(self):
        self.calls = []

    def __call__(self, service, method, *args):
        self.calls.append((service, method, args))
        return getattr(self, f"{service}_{method}")(*args)

    def methods(self):
        """The methods called, in order."""
        return [m for _, m, _ in self.calls]

    def asked(self, method):
        """The arguments of each call of `method`, in order."""
        return [args for _, m, args in self.calls if m == method]

import pytest

from tests.service.host import ServiceHost


@pytest.fixture(scope="module")
def host(stack, request, tmp_path_factory):
    """The services the test module names in HOSTED, running in their nameko
    containers (see tests/service/host.py) for the module's tests, with the
    settings of the module's HOST_ENV (if any) over the stack's."""
    log_path = tmp_path_factory.mktemp("service-host") / "host.log"
    env = getattr(request.module, "HOST_ENV", {})
    with ServiceHost(stack, request.module.HOSTED, log_path, env) as running:
        yield running

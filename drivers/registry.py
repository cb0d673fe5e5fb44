"""Which transport a URL opens: a scheme table of lazy ``"module:attr"`` strings plus plugins.

``open_transport(url, **kwargs)`` takes the scheme (the text before ``://``) and looks it up:

1. :data:`TRANSPORTS`, this package's own table (``sim`` -> the simulator's transport);
2. the entry-point group ``pump_drivers.transports`` (entry-point name = scheme), for plugins;
3. anything else, including plain device paths and pyserial's own schemes (``loop``,
   ``socket``, ``rfc2217``, ``spy``), opens :class:`~drivers.transport.SerialTransport`.

The target is imported only when its scheme is opened, so importing ``drivers`` never imports
``simulators`` (python-can's BACKENDS work the same way). It is called as
``target(url, **kwargs)`` with the *whole* URL, query string included: each transport reads its
own parameters, as pyserial's URL handlers do (``sim://programmable-20?seed=7``,
``socket://host:4000?logging=debug``). A target that cannot be imported gives a
:class:`~drivers.errors.TransportError` naming the scheme and the module.
"""

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Final

from drivers.errors import TransportError
from drivers.transport import SerialTransport, Transport

__all__ = ["ENTRY_POINT_GROUP", "TRANSPORTS", "open_transport", "scheme_of", "transport_factory"]

ENTRY_POINT_GROUP: Final = "pump_drivers.transports"

TRANSPORTS: Final[dict[str, str]] = {
    "sim": "simulators.transport:SimulatorTransport",
}
"""Scheme -> ``"module:attr"`` of a transport class or factory taking ``(url, **kwargs)``."""


def scheme_of(url: str) -> str:
    """The lower-case scheme of ``url``, or ``""`` for a device path such as ``/dev/ttyUSB0``."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def _load(target: str, scheme: str) -> Callable[..., Transport]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TransportError(
            f"transport for {scheme}:// is not available: cannot import {module_name} ({exc})"
        ) from exc
    try:
        factory: Callable[..., Transport] = getattr(module, attr)
    except AttributeError as exc:
        raise TransportError(f"transport for {scheme}:// is not available: {module_name} has no {attr}") from exc
    return factory


def transport_factory(url: str) -> Callable[..., Transport]:
    """The class or factory that :func:`open_transport` would call for ``url``.

    Raises:
        TransportError: the scheme's registered module or attribute cannot be imported.
    """
    scheme = scheme_of(url)
    if scheme in TRANSPORTS:
        return _load(TRANSPORTS[scheme], scheme)
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=scheme) if scheme else ():
        try:
            plugin: Callable[..., Transport] = entry.load()
        except (ImportError, AttributeError) as exc:
            raise TransportError(f"transport plugin for {scheme}:// ({entry.value}) cannot be loaded: {exc}") from exc
        return plugin
    return SerialTransport


def open_transport(url: str, **kwargs: Any) -> Transport:
    """Open the transport for ``url``, passing it the whole URL and ``kwargs``.

    Example: ``open_transport("/dev/ttyUSB0", baudrate=57600)``,
    ``open_transport("sim://programmable-20?seed=7", clock=clock)``.

    Raises:
        TransportError: no transport can be loaded for the scheme, or the port cannot be opened.
    """
    return transport_factory(url)(url, **kwargs)

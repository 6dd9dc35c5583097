"""A stand-in for an openstacksdk connection that records every call (pure, for the
unit tests of the smoke checks and of where verification may write).

Every proxy (identity, compute, image, ...) answers by the method's name: `create_<kind>`
stores a resource and returns it, `get_<kind>` returns it or raises NotFoundException,
`delete_<kind>` removes it, `find_<kind>` looks it up by id or name, any other name
lists the stored resources of that kind (`flavors` -> flavor). `fail` makes a call raise,
`lose_answer` makes a create store its resource and still raise (its answer lost).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from openstack import exceptions as os_exc

WRITE_PREFIXES = ("create_", "delete_", "update_", "add_", "set_", "remove_")


class _Response:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


class _Proxy:
    def __init__(self, conn: FakeConnection, name: str) -> None:
        self._conn = conn
        self._name = name

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._conn.calls.append((self._name, method, args, kwargs))
            failure = self._conn.fail.get((self._name, method))
            if failure is not None:
                raise failure
            return self._conn.answer(self._name, method, args, kwargs)
        return call


class _Config:
    def __init__(self, overrides: Mapping[str, str]) -> None:
        self.overrides = dict(overrides)

    def get_endpoint(self, service_type: str) -> str | None:
        return self.overrides.get(service_type)


class _Session:
    def __init__(self) -> None:
        self.auth = SimpleNamespace(invalidate=lambda: None)

    def get_token(self) -> str:
        return "a-token"


class FakeConnection:
    def __init__(self, catalog: Mapping[str, str], overrides: Mapping[str, str] | None = None
                 ) -> None:
        """`catalog`: service type -> the catalog's URL; `overrides`: service type ->
        clouds.yaml's endpoint override."""
        self.catalog = dict(catalog)
        self.config = _Config(overrides or {})
        self.session = _Session()
        self.calls: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail: dict[tuple[str, str], Exception] = {}
        self.lose_answer: set[tuple[str, str]] = set()
        self.resources: dict[str, dict[str, Any]] = {}
        for proxy in ("identity", "compute", "image", "network", "placement",
                      "block_storage", "orchestration"):
            setattr(self, proxy, _Proxy(self, proxy))

    def endpoint_for(self, service_type: str) -> str | None:
        return self.config.get_endpoint(service_type) or self.catalog.get(service_type)

    @property
    def writes(self) -> list[str]:
        """Every call that would change the cloud, as `proxy.method`."""
        return [f"{proxy}.{method}" for proxy, method, _, _ in self.calls
                if method.startswith(WRITE_PREFIXES)]

    def answer(self, proxy: str, method: str, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
        if proxy == "identity" and method == "get" and args == ("/auth/catalog",):
            return _Response({"catalog": [{"type": t} for t in sorted(self.catalog)]})
        verb, _, kind = method.partition("_")
        store = self.resources.setdefault(kind, {})
        if verb == "create" and kind:
            rid = str(kwargs.get("id") or kwargs.get("namespace") or uuid.uuid4())
            resource = SimpleNamespace(**{"name": rid, **kwargs, "id": rid})
            store[rid] = resource
            if (proxy, method) in self.lose_answer:
                raise os_exc.HttpException(f"{method}: the answer was lost")
            return resource
        if verb == "get" and kind:
            key = args[0] if isinstance(args[0], str) else args[0].id
            if key not in store:
                raise os_exc.NotFoundException(f"{kind} {key} not found")
            return store[key]
        if verb == "delete" and kind:
            key = args[0] if isinstance(args[0], str) else args[0].id
            if key not in store:
                if kwargs.get("ignore_missing", True):
                    return None
                raise os_exc.NotFoundException(f"{kind} {key} not found")
            del store[key]
            return None
        if verb == "find" and kind:
            return next((r for r in store.values() if args[0] in (r.id, r.name)), None)
        listed = method.removesuffix("s")
        return list(self.resources.get(listed, {}).values())


CATALOG = {"identity": "http://vip:5000/v3", "image": "http://vip:9292",
           "compute": "http://vip:8774/v2.1", "placement": "http://vip:8778",
           "network": "http://vip:9696", "block-storage": "http://vip:8776/v3",
           "orchestration": "http://vip:8004/v1/admin"}


def new_side_overrides(host: str = "10.0.1.11") -> dict[str, str]:
    """Endpoint overrides reaching every service on one new controller directly."""
    return {service_type: url.replace("vip", host) for service_type, url in CATALOG.items()}

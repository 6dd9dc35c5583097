"""openstacksdk connections from clouds.yaml, with errors that name the cloud and file
(adapter: the only module that builds openstacksdk connections).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openstack.config
import openstack.connection
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_fixed,
)

from sidebyside.errors import InputError, UnreachableError
from sidebyside.inventory import Inventory, normal_address
from sidebyside.redact import redact, register_secret

log = logging.getLogger(__name__)

API_TIMEOUT = 30.0
# Right after a switch a listener may need a moment; a longer outage is the finding.
CONNECT_RETRY_BUDGET = 10.0

_UNREACHABLE = (ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.SSLError,
                ks_exc.DiscoveryFailure, ks_exc.RetriableConnectionFailure,
                ks_exc.ServiceUnavailable, ks_exc.BadGateway,
                ks_exc.GatewayTimeout)


def clouds_yaml_of(inventory: Inventory) -> Path | None:
    """The inventory's clouds.yaml; a relative path is relative to the inventory file."""
    if not inventory.clouds_yaml:
        return None
    path = Path(os.path.expanduser(inventory.clouds_yaml))
    if not path.is_absolute() and inventory.source not in ("", "<memory>"):
        path = Path(inventory.source).resolve().parent / path
    return path


def _where(clouds_yaml: Path | None) -> str:
    return str(clouds_yaml) if clouds_yaml else "the standard clouds.yaml locations"


def _load_region(cloud: str, clouds_yaml: Path | None, timeout: float) -> Any:
    if clouds_yaml is not None and not clouds_yaml.is_file():
        raise InputError(f"clouds.yaml {clouds_yaml} does not exist (needed for cloud "
                         f"{cloud!r})", hint="clouds_yaml in the inventory")
    try:
        config = openstack.config.OpenStackConfig(
            config_files=[str(clouds_yaml)] if clouds_yaml else None, load_envvars=False)
        names = config.get_cloud_names()
        if cloud not in names:
            raise InputError(f"cloud {cloud!r} is not defined in {_where(clouds_yaml)} "
                             f"(defined: {', '.join(sorted(names)) or 'none'})")
        return config.get_one(cloud=cloud, api_timeout=timeout)
    except os_exc.ConfigException as exc:
        raise InputError(redact(f"cloud {cloud!r} in {_where(clouds_yaml)}: {exc}")) from None


def configured_hosts(cloud: str, clouds_yaml: str | os.PathLike[str] | None = None
                     ) -> set[str]:
    """The hosts a clouds.yaml cloud names (its auth URL and every endpoint override),
    normalized (inventory.normal_address), read without logging in. Raises InputError
    (unknown cloud, unreadable file)."""
    path = Path(clouds_yaml) if clouds_yaml is not None else None
    config = _load_region(cloud, path, API_TIMEOUT).config
    urls = [str((config.get("auth") or {}).get("auth_url") or "")]
    urls += [str(value) for key, value in config.items()
             if key.endswith("_endpoint_override") and value]
    hosts = set()
    for url in urls:
        try:
            host = urlsplit(url).hostname
        except ValueError:  # no client reaches anything there either
            continue
        if host:
            hosts.add(normal_address(host))
    return hosts


def connect(cloud: str, clouds_yaml: str | os.PathLike[str] | None = None, *,
            authorize: bool = True, timeout: float = API_TIMEOUT,
            retry_budget: float = CONNECT_RETRY_BUDGET) -> openstack.connection.Connection:
    """A connection to `cloud` of `clouds_yaml` (None: the standard lookup), with a token
    already issued when `authorize` (so bad credentials show here, not mid-check).

    Raises InputError (unknown cloud, unreadable file, credentials refused) or
    UnreachableError (nothing answers at the auth URL within the retry budget).
    """
    path = Path(clouds_yaml) if clouds_yaml is not None else None
    # keystoneauth warns on stderr before every failed version discovery; the error
    # raised below says it once, naming the cloud.
    logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    region = _load_region(cloud, path, timeout)
    auth = dict(region.config.get("auth") or {})
    for key in ("password", "token", "application_credential_secret"):
        register_secret(auth.get(key))
    conn = openstack.connection.Connection(config=region)
    if authorize:
        issue_token(conn, cloud, path, retry_budget=retry_budget)
    return conn


def issue_token(conn: openstack.connection.Connection, cloud: str,
                clouds_yaml: Path | None = None, *,
                retry_budget: float = CONNECT_RETRY_BUDGET) -> str:
    """Authenticate. Raises InputError (credentials refused) or UnreachableError."""
    auth_url = (conn.config.config.get("auth") or {}).get("auth_url", "?")
    retrying = Retrying(stop=stop_after_delay(retry_budget), wait=wait_fixed(1.0),
                        retry=retry_if_exception_type(_UNREACHABLE), reraise=True,
                        before_sleep=before_sleep_log(log, logging.INFO))
    try:
        token = retrying(conn.session.get_token)
    except ks_exc.Unauthorized as exc:
        raise InputError(redact(f"cloud {cloud!r} ({_where(clouds_yaml)}): {auth_url} "
                                f"refused the credentials: {exc}"),
                         hint="check auth in clouds.yaml") from None
    except _UNREACHABLE as exc:
        raise UnreachableError(redact(f"cloud {cloud!r} ({_where(clouds_yaml)}): "
                                      f"{auth_url} does not answer: {exc}")) from None
    except ks_exc.ClientException as exc:
        raise InputError(redact(f"cloud {cloud!r} ({_where(clouds_yaml)}): no token from "
                                f"{auth_url}: {type(exc).__name__}: {exc}")) from None
    register_secret(token)
    return str(token)

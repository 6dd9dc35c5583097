"""Each service's own test resource: created, read back and deleted by verification
(adapter), only where cloud/writes.py allows writes (the new side).

A resource is chosen per service so that its delete leaves NO row behind in the
service's database: rollback counts any row the new side took since the cutover as a
user's write (db/position.py changes_since; actions/data.py ReportNewWritesAction) and
refuses to drop it. Each choice cites the upstream code that deletes it for good (the
same in every release sbs supports, 2023.1 .. 2026.1). Cinder has none: every cinder
resource is soft-deleted (its row stays), so cinder is only read.

A check cleans up on every path: whatever failed after the create, the resource is
deleted (looked up by its unique name when the create's answer was lost), and a
resource that could not be deleted is named in the check's detail, to delete by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as os_exc

from sidebyside.errors import VerificationError
from sidebyside.redact import redact

Conn = Any  # openstack.connection.Connection; its proxies are dynamically typed
DESCRIPTION = "sbs verification: created and deleted at once"


@dataclass(frozen=True)
class OwnResource:
    """One service's test resource and the four calls verification makes with it."""

    service: str
    noun: str
    call: str  # as the report shows it
    create: Callable[[Conn, str], Any]  # name -> the created resource
    read: Callable[[Conn, Any], Any]  # raises NotFoundException once it is gone
    find: Callable[[Conn, str], Any]  # by name, or None: when the create's answer was lost
    delete: Callable[[Conn, Any], None]

    @property
    def check_name(self) -> str:
        return f"{self.noun} create/delete"


def _named(items: Iterable[Any], name: str) -> Any:
    return next((item for item in items if getattr(item, "name", None) == name), None)


def _found(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except os_exc.NotFoundException:
        return None


OWN_RESOURCES: dict[str, OwnResource] = {
    # keystone/catalog/backends/sql.py CatalogSQL.delete_region: session.delete(ref), a
    # hard delete; a region owns no other row (a project's delete would leave
    # revocation_event rows, a user's its local_user/password history).
    "keystone": OwnResource(
        "keystone", "region", "identity.create_region/delete_region",
        create=lambda c, name: c.identity.create_region(id=name, description=DESCRIPTION),
        read=lambda c, r: c.identity.get_region(r.id),
        find=lambda c, name: c.identity.find_region(name, ignore_missing=True),
        delete=lambda c, r: c.identity.delete_region(r, ignore_missing=False)),
    # glance/db/sqlalchemy/metadef_api/namespace.py delete_cascade: session.delete of
    # the namespace (metadef tables have no `deleted` column). Not an image: glance
    # soft-deletes images (glance/db/sqlalchemy/api.py image_destroy -> GlanceBase.delete
    # sets deleted=1; the images row stays).
    "glance": OwnResource(
        "glance", "metadef namespace", "image.create_metadef_namespace/"
        "delete_metadef_namespace",
        create=lambda c, name: c.image.create_metadef_namespace(
            namespace=name, visibility="private", is_protected=False,
            description=DESCRIPTION),
        read=lambda c, r: c.image.get_metadef_namespace(r.namespace),
        find=lambda c, name: _found(lambda: c.image.get_metadef_namespace(name)),
        delete=lambda c, r: c.image.delete_metadef_namespace(r.namespace,
                                                             ignore_missing=False)),
    # placement/objects/resource_provider.py ResourceProvider._delete: DELETE FROM
    # resource_providers (and its inventories, aggregates, traits: a new one has none).
    "placement": OwnResource(
        "placement", "resource provider",
        "placement.create_resource_provider/delete_resource_provider",
        create=lambda c, name: c.placement.create_resource_provider(name=name),
        read=lambda c, r: c.placement.get_resource_provider(r.id),
        find=lambda c, name: _named(c.placement.resource_providers(name=name), name),
        delete=lambda c, r: c.placement.delete_resource_provider(r, ignore_missing=False)),
    # nova/objects/flavor.py _flavor_destroy: in nova_api, deletes the flavor's
    # flavor_projects and flavor_extra_specs rows, then session.delete(flavor). Private,
    # so no user lists it in the seconds it exists.
    "nova": OwnResource(
        "nova", "flavor", "compute.create_flavor/delete_flavor",
        create=lambda c, name: c.compute.create_flavor(name=name, ram=64, vcpus=1, disk=0,
                                                       is_public=False),
        read=lambda c, r: c.compute.get_flavor(r.id),
        # "None": every flavor, private ones too (nova's _parse_is_public)
        find=lambda c, name: _named(c.compute.flavors(is_public="None"), name),
        delete=lambda c, r: c.compute.delete_flavor(r, ignore_missing=False)),
    # neutron/db/address_scope_db.py delete_address_scope -> AddressScope.delete (neutron
    # deletes rows; its model has no standard attributes). Not a network: a network's
    # create makes the project's default security group when it has none
    # (neutron/db/securitygroups_db.py _ensure_default_security_group_handler, on
    # NETWORK BEFORE_CREATE), rows its delete leaves; and it reserves quota and
    # allocates a segment. An address scope is no quota resource and no ML2 driver
    # (OVN included) acts on it.
    "neutron": OwnResource(
        "neutron", "address scope", "network.create_address_scope/delete_address_scope",
        create=lambda c, name: c.network.create_address_scope(name=name, ip_version=4,
                                                              is_shared=False),
        read=lambda c, r: c.network.get_address_scope(r.id),
        find=lambda c, name: c.network.find_address_scope(name, ignore_missing=True),
        delete=lambda c, r: c.network.delete_address_scope(r, ignore_missing=False)),
    # heat/db/api.py software_config_delete: context.session.delete(config), a hard
    # delete (a stack is soft-deleted: its stack row, raw_template and events stay).
    # Made by heat-engine over RPC (heat/engine/service_software_config.py), so the
    # check also proves the engine consumes its queue.
    "heat": OwnResource(
        "heat", "software config",
        "orchestration.create_software_config/delete_software_config",
        create=lambda c, name: c.orchestration.create_software_config(
            name=name, group="script", config="", inputs=[], outputs=[], options={}),
        read=lambda c, r: c.orchestration.get_software_config(r.id),
        find=lambda c, name: _named(c.orchestration.software_configs(), name),
        delete=lambda c, r: c.orchestration.delete_software_config(
            r, ignore_missing=False)),
}

# service -> why it has no create/delete check (said in its read check's detail).
# cinder/db/sqlalchemy/models.py CinderBase.delete and api.py volume_destroy,
# qos_specs_delete, volume_type_access_remove, transfer_destroy, message_destroy: every
# API resource is soft-deleted (deleted=1, the row stays), and a volume also leaves
# soft-deleted quota reservations; the one hard delete (a project's default volume type)
# would change how that project's volumes are made.
NO_OWN_RESOURCE: dict[str, str] = {
    "cinder": "no create/delete check: cinder keeps the row of every deleted resource, "
              "which rollback would count as a user's write",
}


def _text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {lines[0] if lines else ''}")


def _remove(conn: Conn, own: OwnResource, name: str, created: Any) -> str | None:
    """Delete the test resource whatever state it is in; None when it is gone (or was
    never made), else what is left to delete by hand. Never raises."""
    try:
        leftover = created if created is not None else own.find(conn, name)
        if leftover is not None:
            own.delete(conn, leftover)
    except os_exc.NotFoundException:
        return None
    except Exception as exc:  # noqa: BLE001 - reported with the resource's name
        return f"{own.noun} {name} may be left over, delete it by hand ({_text(exc)})"
    return None


def create_and_delete(conn: Conn, own: OwnResource, name: str) -> str:
    """Create the test resource `name`, read it back, delete it and see it gone.

    Raises VerificationError (or the API's error) naming what failed; the resource is
    deleted on every path, and the error says so when it could not be."""
    created = None
    try:
        created = own.create(conn, name)
        own.read(conn, created)
        own.delete(conn, created)
    except BaseException as exc:
        left = _remove(conn, own, name, created)
        if left and isinstance(exc, Exception):
            raise VerificationError(f"{_text(exc)}; {left}") from exc
        raise
    try:
        own.read(conn, created)
    except os_exc.NotFoundException:
        return f"{own.noun} {name} created, read back and deleted"
    raise VerificationError(f"{own.noun} {name} is still there after its delete; delete "
                            "it by hand")

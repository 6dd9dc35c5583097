"""Seed data on the old controller through openstacksdk, and what to expect of it (adapter).

The expected facts are written to `<state>/seed.json` (names, ids, the image's
checksum; no secrets) so that tests and `sbs verify` can check the upgraded cloud.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import openstack
import openstack.config
from openstack import exceptions as os_exc

from sidebyside.errors import StepFailed, UnreachableError
from sidebyside.lab.layout import REGION

log = logging.getLogger(__name__)

DOMAIN = "default"
PROJECTS = ("sbs-alpha", "sbs-beta")
# user -> (default project, role on it)
USERS = {"alice": ("sbs-alpha", "member"), "bob": ("sbs-beta", "reader")}
GROUP = ("sbs-operators", "sbs-alpha", "member")  # group, project, role
CREDENTIAL_TYPE = "ec2"
IMAGE_NAME = "sbs-lab-image"
# Deterministic, so its checksum is known before the upload.
IMAGE_DATA = b"".join(f"sbs lab image block {i:06d}\n".encode() for i in range(4096))
IMAGE_MD5 = hashlib.md5(IMAGE_DATA).hexdigest()  # noqa: S324 - glance's own checksum
IMAGE_SHA512 = hashlib.sha512(IMAGE_DATA).hexdigest()


def connect(clouds_yaml: Path, cloud: str) -> openstack.connection.Connection:
    """An openstacksdk connection to a cloud of the lab's clouds.yaml."""
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def _fail(what: str, exc: Exception) -> StepFailed:
    return StepFailed("lab-seed", f"{what}: {exc}")


# service -> (catalog type, description)
CATALOG_ENTRY = {"glance": ("image", "OpenStack Image"),
                 "placement": ("placement", "OpenStack Placement"),
                 "nova": ("compute", "OpenStack Compute"),
                 "neutron": ("network", "OpenStack Networking"),
                 # nova's [cinder] catalog_info default; openstacksdk's block_storage
                 # finds it by its alias
                 "cinder": ("volumev3", "OpenStack Block Storage"),
                 "heat": ("orchestration", "OpenStack Orchestration")}


def register_service(conn: Any, name: str, service_password: str, url: str) -> None:
    """The `service` project, the service's user (admin on it), its catalog entry and
    its endpoints on the VIP (`url`), as a deployment registers them. Idempotent.
    Raises StepFailed."""
    service_type, description = CATALOG_ENTRY[name]
    try:
        project = conn.identity.find_project("service", domain_id=DOMAIN) or \
            conn.identity.create_project(name="service", domain_id=DOMAIN,
                                         description="Service users")
        user = conn.identity.find_user(name, domain_id=DOMAIN)
        if user is None:
            user = conn.identity.create_user(name=name, domain_id=DOMAIN,
                                             password=service_password,
                                             default_project_id=project.id)
        admin = conn.identity.find_role("admin")
        conn.identity.assign_project_role_to_user(project, user, admin)
        # nova and neutron call each other with their service tokens (nova's
        # [service_user], neutron's [nova]): keystonemiddleware wants the service role
        service_role = conn.identity.find_role("service") or \
            conn.identity.create_role(name="service")
        conn.identity.assign_project_role_to_user(project, user, service_role)
        service = conn.identity.find_service(name)
        if service is None:
            service = conn.identity.create_service(name=name, type=service_type,
                                                   description=description)
        existing = {e.interface for e in conn.identity.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in existing:
                conn.identity.create_endpoint(
                    service_id=service.id, interface=interface, region_id=REGION,
                    url=url)
    except os_exc.SDKException as exc:
        raise _fail(f"registering {name} in keystone", exc) from None


def seed(conn: Any, *, user_passwords: dict[str, str], with_image: bool) -> dict[str, Any]:
    """Create the seed data (idempotent: existing resources are reused).

    Returns the facts to expect afterwards. Raises StepFailed.
    """
    facts: dict[str, Any] = {"projects": {}, "users": {}, "groups": {}, "assignments": [],
                             "credentials": [], "images": {}}
    try:
        projects = {}
        for name in PROJECTS:
            project = conn.identity.find_project(name, domain_id=DOMAIN) or \
                conn.identity.create_project(name=name, domain_id=DOMAIN,
                                             description=f"sbs lab seed project {name}")
            projects[name] = project
            facts["projects"][name] = project.id
        users = {}
        for name, (project_name, role_name) in USERS.items():
            user = conn.identity.find_user(name, domain_id=DOMAIN)
            if user is None:
                user = conn.identity.create_user(
                    name=name, domain_id=DOMAIN, password=user_passwords[name],
                    default_project_id=projects[project_name].id,
                    email=f"{name}@lab.example", description=f"sbs lab seed user {name}")
            users[name] = user
            facts["users"][name] = user.id
            role = conn.identity.find_role(role_name)
            conn.identity.assign_project_role_to_user(projects[project_name], user, role)
            facts["assignments"].append({"user": name, "project": project_name,
                                         "role": role_name})
        group_name, group_project, group_role = GROUP
        group = conn.identity.find_group(group_name, domain_id=DOMAIN) or \
            conn.identity.create_group(name=group_name, domain_id=DOMAIN,
                                       description="sbs lab seed group")
        facts["groups"][group_name] = group.id
        for name in USERS:
            conn.identity.add_user_to_group(users[name], group)
        conn.identity.assign_project_role_to_group(
            projects[group_project], group, conn.identity.find_role(group_role))
        facts["assignments"].append({"group": group_name, "project": group_project,
                                     "role": group_role})
        alice = users["alice"]
        credentials = [c for c in conn.identity.credentials(user_id=alice.id)
                       if c.type == CREDENTIAL_TYPE]
        if not credentials:
            blob = json.dumps({"access": "sbs-lab-access-alice", "secret": "sbs-lab-ec2"})
            credentials = [conn.identity.create_credential(
                type=CREDENTIAL_TYPE, user_id=alice.id,
                project_id=projects["sbs-alpha"].id, blob=blob)]
        facts["credentials"] = [{"id": c.id, "user": "alice", "type": CREDENTIAL_TYPE}
                                for c in credentials]
        if with_image:
            image = conn.image.find_image(IMAGE_NAME)
            if image is None:
                image = conn.image.create_image(
                    name=IMAGE_NAME, data=IMAGE_DATA, disk_format="raw",
                    container_format="bare", visibility="public", validate_checksum=False)
            image = conn.image.get_image(image.id)
            if image.checksum != IMAGE_MD5:
                raise StepFailed("lab-seed", f"image {IMAGE_NAME} has checksum "
                                 f"{image.checksum}, expected {IMAGE_MD5}")
            facts["images"][IMAGE_NAME] = {"id": image.id, "checksum": IMAGE_MD5,
                                           "sha512": IMAGE_SHA512, "size": len(IMAGE_DATA)}
    except os_exc.SDKException as exc:
        raise _fail("seeding the old controller", exc) from None
    return facts


# The whole cloud's seed (nova served beside placement and neutron).
FLAVOR = {"name": "sbs-tiny", "vcpus": 1, "ram": 64, "disk": 1}
NETWORK, SUBNET, SUBNET_CIDR = "sbs-net", "sbs-subnet", "10.77.0.0/24"
ROUTER, SECURITY_GROUP, PORT, SERVER = "sbs-router", "sbs-web", "sbs-port", "sbs-server"
SERVER_ACTIVE_TIMEOUT = 240


def _wait_active(conn: Any, server: Any, name: str) -> Any:
    """`server` once ACTIVE. Raises StepFailed (it went to ERROR, never became ACTIVE
    within SERVER_ACTIVE_TIMEOUT, or the API failed while waiting)."""
    try:
        return conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                            wait=SERVER_ACTIVE_TIMEOUT)
    except os_exc.ResourceFailure as exc:
        raise _fail(f"server {name} did not become ACTIVE", exc) from None
    except os_exc.ResourceTimeout as exc:
        raise _fail(f"server {name} not ACTIVE within {SERVER_ACTIVE_TIMEOUT} s",
                    exc) from None
    except os_exc.SDKException as exc:
        raise _fail(f"waiting for server {name} to become ACTIVE", exc) from None


def seed_cloud(conn: Any, *, image_id: str) -> dict[str, Any]:
    """A flavor, a network with its subnet, a router on it, a security group with a
    rule, a port, and a server ACTIVE on the compute node on that port (idempotent).
    Returns the facts. Raises StepFailed (the server went to ERROR or never became
    ACTIVE)."""
    try:
        flavor = conn.compute.find_flavor(FLAVOR["name"]) or conn.compute.create_flavor(
            **FLAVOR)
        network = conn.network.find_network(NETWORK) or conn.network.create_network(
            name=NETWORK)
        subnet = conn.network.find_subnet(SUBNET) or conn.network.create_subnet(
            name=SUBNET, network_id=network.id, ip_version=4, cidr=SUBNET_CIDR)
        router = conn.network.find_router(ROUTER)
        if router is None:
            router = conn.network.create_router(name=ROUTER)
            conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        group = conn.network.find_security_group(SECURITY_GROUP)
        if group is None:
            group = conn.network.create_security_group(
                name=SECURITY_GROUP, description="sbs lab seed: web")
            conn.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", protocol="tcp",
                port_range_min=80, port_range_max=80, ethertype="IPv4")
        port = conn.network.find_port(PORT) or conn.network.create_port(
            name=PORT, network_id=network.id, security_group_ids=[group.id])
        server = conn.compute.find_server(SERVER)
        if server is None:
            server = conn.compute.create_server(
                name=SERVER, flavor_id=flavor.id, image_id=image_id,
                networks=[{"port": port.id}])
    except os_exc.SDKException as exc:
        raise _fail("seeding the old cloud's compute and network", exc) from None
    server = _wait_active(conn, server, SERVER)
    return {"flavors": {FLAVOR["name"]: flavor.id},
            "networks": {NETWORK: {"id": network.id, "subnet": subnet.id,
                                   "cidr": SUBNET_CIDR}},
            "routers": {ROUTER: router.id}, "security_groups": {SECURITY_GROUP: group.id},
            "ports": {PORT: port.id},
            "servers": {SERVER: {"id": server.id, "status": server.status,
                                 "host": server.compute_host, "port": port.id,
                                 "flavor": FLAVOR["name"]}}}


VOLUME, VOLUME_SIZE = "sbs-volume", 1
VOLUME_TIMEOUT = 120


def seed_volume(conn: Any, *, server_id: str, name: str = VOLUME) -> dict[str, Any]:
    """A volume of VOLUME_SIZE GiB, made available by cinder-volume, then attached to
    the server through nova's API (nova reserves it in cinder, the compute node's
    fake virt driver attaches the connection cinder-volume initialised), so it is
    in-use with its attachment to the server (idempotent). Raises StepFailed."""
    try:
        volume = conn.block_storage.find_volume(name)
        if volume is None:
            volume = conn.block_storage.create_volume(name=name, size=VOLUME_SIZE)
        if volume.status != "in-use":
            volume = conn.block_storage.wait_for_status(
                volume, status="available", failures=["error"], wait=VOLUME_TIMEOUT)
            conn.compute.create_volume_attachment(server_id, volume_id=volume.id)
            volume = conn.block_storage.wait_for_status(
                volume, status="in-use", failures=["error", "error_attaching", "available"],
                wait=VOLUME_TIMEOUT)
    except os_exc.SDKException as exc:
        raise _fail(f"volume {name} not attached to server {server_id}", exc) from None
    attached = sorted(str(a.get("server_id")) for a in volume.attachments or [])
    if attached != [server_id]:
        raise StepFailed("lab-seed", f"volume {name} is in-use but attached to "
                         f"{attached or 'no server'}, not {server_id}")
    return {"volumes": {name: {"id": volume.id, "size": volume.size,
                                 "status": volume.status, "host": volume.host,
                                 "server": server_id}}}


STACK = "sbs-stack"
STACK_OUTPUT = "sbs-lab-stack-output"
STACK_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "description": "sbs lab seed: resources that need no other service",
    "resources": {"marker": {"type": "OS::Heat::Value",
                             "properties": {"value": STACK_OUTPUT}},
                  "name": {"type": "OS::Heat::RandomString",
                           "properties": {"length": 12}}},
    "outputs": {"marker": {"value": {"get_attr": ["marker", "value"]}}},
}
STACK_TIMEOUT = 180


def seed_stack(conn: Any, name: str = STACK) -> dict[str, Any]:
    """A heat stack CREATE_COMPLETE with an output (idempotent). Raises StepFailed."""
    try:
        stack = conn.orchestration.find_stack(name)
        if stack is None:
            stack = conn.orchestration.create_stack(name=name, template=STACK_TEMPLATE)
        stack = conn.orchestration.wait_for_status(
            stack, status="CREATE_COMPLETE", failures=["CREATE_FAILED"], wait=STACK_TIMEOUT)
    except os_exc.SDKException as exc:
        raise _fail(f"stack {name} not CREATE_COMPLETE", exc) from None
    return {"stacks": {name: {"id": stack.id, "status": "CREATE_COMPLETE",
                              "outputs": {"marker": STACK_OUTPUT}}}}


def boot_server(conn: Any, name: str, *, network_id: str) -> dict[str, Any]:
    """A server of the seed's flavor and image on `network_id` (neutron makes its
    port), waited for until ACTIVE: what a user boots (idempotent). Raises StepFailed."""
    try:
        server = conn.compute.find_server(name)
        if server is None:
            flavor = conn.compute.find_flavor(FLAVOR["name"], ignore_missing=False)
            image = conn.image.find_image(IMAGE_NAME, ignore_missing=False)
            server = conn.compute.create_server(name=name, flavor_id=flavor.id,
                                                image_id=image.id,
                                                networks=[{"uuid": network_id}])
    except os_exc.SDKException as exc:
        raise _fail(f"booting server {name}", exc) from None
    server = _wait_active(conn, server, name)
    return {"servers": {name: {"id": server.id, "status": server.status,
                               "host": server.compute_host, "flavor": FLAVOR["name"],
                               "addresses": server.addresses}}}


def user_workload(conn: Any, *, network_id: str, prefix: str) -> dict[str, Any]:
    """What a user makes through the VIP once the cloud serves again: a server ACTIVE
    on a compute node, a volume attached to it, a stack CREATE_COMPLETE, each named
    `<prefix>-...` (idempotent). Returns their facts, like the seed's. Raises
    StepFailed."""
    made = boot_server(conn, f"{prefix}-server", network_id=network_id)
    server_id = made["servers"][f"{prefix}-server"]["id"]
    made.update(seed_volume(conn, server_id=server_id, name=f"{prefix}-volume"))
    made.update(seed_stack(conn, f"{prefix}-stack"))
    return made


def check_reachable(conn: Any, what: str) -> None:
    """Raises UnreachableError when no token can be issued."""
    try:
        conn.authorize()
    except os_exc.SDKException as exc:
        raise UnreachableError(f"{what}: no token: {exc}") from None

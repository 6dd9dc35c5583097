"""Errors of the traffic layer; each names the node, backend and server concerned."""

from __future__ import annotations

from sidebyside.errors import InputError, UnreachableError, VerificationError


class HaproxyUnreachable(UnreachableError):
    """The admin socket of an HAProxy node could not be reached or did not answer."""

    kind = "haproxy-unreachable"


class HaproxyCommandRejected(InputError):
    """HAProxy refused a runtime command: usually a backend or server the inventory names
    but the node's haproxy.cfg does not declare, or a socket without `level admin`."""

    kind = "haproxy-command-rejected"

    def __init__(self, node: str, command: str, answer: str, *, backend: str | None = None,
                 server: str | None = None) -> None:
        self.node = node
        self.command = command
        self.answer = answer.strip()
        self.backend = backend
        self.server = server
        target = ""
        if backend and server:
            target = f" for server {server!r} of backend {backend!r}"
        elif backend:
            target = f" for backend {backend!r}"
        super().__init__(f"HAProxy node {node}: `{command}` refused{target}: {self.answer}",
                         hint="check that the inventory's ha.haproxy.backends match the "
                              "backends and servers declared in that node's haproxy.cfg")


class TrafficNotSettled(VerificationError):
    """Traffic did not reach the asked state in time: sessions still open on drained
    servers, HAProxy nodes disagreeing after a switch, queues not empty, VIP not moved."""

    kind = "traffic-not-settled"


class ServerCheckFailed(VerificationError):
    """A server about to take traffic failed its direct check; nothing was switched."""

    kind = "server-check-failed"

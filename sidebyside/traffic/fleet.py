"""The same runtime operation on every HAProxy node of the inventory.

A switch counts as done only when every node, read back, shows the asked states:
a node that missed a command would otherwise keep sending traffic to the old side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from sidebyside.inventory import HaproxyModel
from sidebyside.remote.base import Host
from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.haproxy import AdminState, HaproxyNode, ServerState


class HaproxyFleet:
    """Every HAProxy node in front of the cloud, and where each persists its state."""

    def __init__(self, nodes: Sequence[HaproxyNode], *,
                 state_files: Mapping[str, str] | None = None) -> None:
        if not nodes:
            raise ValueError("an HAProxy fleet needs at least one node")
        self.nodes = list(nodes)
        self.state_files = dict(state_files or {})

    @classmethod
    def from_inventory(cls, model: HaproxyModel, hosts: Callable[[str], Host], *,
                       path: Callable[[str, str], str] | None = None,
                       timeout: float = 10.0) -> HaproxyFleet:
        """Nodes of `ha.haproxy`; `hosts` maps inventory names to Hosts and `path`
        places an absolute path under a host's root (`Hosts.path`). Raises InputError
        for an unknown host."""
        def placed(host: str, absolute: str) -> str:
            return path(host, absolute) if path else absolute

        nodes = [HaproxyNode.on_host(hosts(node.host), placed(node.host, node.socket),
                                     timeout=timeout) for node in model.nodes]
        state_files = ({node.host: placed(node.host, model.state_file)
                        for node in model.nodes} if model.state_file else {})
        return cls(nodes, state_files=state_files)

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def states(self, backend: str, servers: Iterable[str]) -> dict[str, dict[str, ServerState]]:
        """node -> server -> state. Raises HaproxyCommandRejected naming the node, backend
        and server when one node does not declare it; HaproxyUnreachable."""
        wanted = list(servers)
        return {node.name: node.servers(backend, wanted) for node in self.nodes}

    def set_state(self, backend: str, servers: Iterable[str], state: AdminState) -> None:
        """`set server ... state` on every node. Raises HaproxyCommandRejected,
        HaproxyUnreachable (the first node that fails stops the loop)."""
        wanted = list(servers)
        for node in self.nodes:
            for server in wanted:
                node.set_state(backend, server, state)

    def set_weight(self, backend: str, servers: Iterable[str], weight: int) -> None:
        """`set server ... weight` on every node. Raises as `set_state`."""
        wanted = list(servers)
        for node in self.nodes:
            for server in wanted:
                node.set_weight(backend, server, weight)

    def set_health_checks(self, backend: str, servers: Iterable[str], enabled: bool) -> None:
        """`enable|disable health` on every node. Raises as `set_state`."""
        wanted = list(servers)
        for node in self.nodes:
            for server in wanted:
                node.set_health_checks(backend, server, enabled)

    def sessions(self, backend: str, servers: Iterable[str]) -> dict[str, dict[str, int]]:
        """node -> server -> current sessions (scur). Raises HaproxyCommandRejected,
        HaproxyUnreachable."""
        wanted = list(servers)
        return {node.name: node.current_sessions(backend, wanted) for node in self.nodes}

    def disagreements(self, backend: str,
                      expected: Mapping[str, AdminState]) -> list[str]:
        """What differs from `expected` (server -> state) on any node, as readable lines;
        empty when every node agrees. Raises HaproxyCommandRejected, HaproxyUnreachable."""
        return state_disagreements(backend, self.states(backend, expected), expected)

    def confirm(self, backend: str, expected: Mapping[str, AdminState]) -> None:
        """Read back every node. Raises TrafficNotSettled listing each disagreement."""
        problems = self.disagreements(backend, expected)
        if problems:
            raise TrafficNotSettled("HAProxy nodes do not show the switched state: "
                                    + "; ".join(problems),
                                    hint="re-run the same command: the switch is idempotent")

    def persist(self) -> list[str]:
        """Write each node's runtime states into its server-state-file (when the
        inventory names one). Returns the nodes written. Raises HaproxyUnreachable,
        RemoteError."""
        written = []
        for node in self.nodes:
            state_file = self.state_files.get(node.name)
            if state_file:
                node.save_state(state_file)
                written.append(node.name)
        return written


def state_disagreements(backend: str, states: Mapping[str, Mapping[str, ServerState]],
                        expected: Mapping[str, AdminState]) -> list[str]:
    """Pure: `node: backend/server is drain, expected maint` for each mismatch."""
    problems = []
    for node, servers in states.items():
        for server, want in expected.items():
            state = servers.get(server)
            if state is None:
                problems.append(f"{node}: {backend}/{server} is not declared")
            elif state.admin != want:
                problems.append(f"{node}: {backend}/{server} is {state.admin}, "
                                f"expected {want}")
    return problems

"""Run commands and move files on controller hosts: local, ssh or netns."""

from sidebyside.remote.base import CommandResult, Host, RemoteError
from sidebyside.remote.factory import HostSpec, connect, rooted
from sidebyside.remote.local import LocalHost
from sidebyside.remote.netns import NetnsHost
from sidebyside.remote.ssh import SshHost

__all__ = ["CommandResult", "Host", "HostSpec", "LocalHost", "NetnsHost", "RemoteError",
           "SshHost", "connect", "rooted"]

"""Run commands and move files on controller hosts: local, ssh or netns."""

from sidebyside.remote.base import CommandResult, Host, RemoteError

__all__ = ["CommandResult", "Host", "RemoteError"]

"""Deploy the new controllers through the operator's own automation.

`deploy.ansible` runs a playbook with ansible-runner; `deploy.command` runs any other
tool with `sh -c`. The plan's `deploy` step is `sidebyside.actions.deploy.DeployAction`.
"""

from sidebyside.deploy.model import EventDigest, TaskFailure, sbs_vars

__all__ = ["EventDigest", "TaskFailure", "sbs_vars"]

"""Deploy the new controllers through the operator's own automation.

`deploy.ansible` runs a playbook with ansible-runner; `deploy.command` runs any other
tool with `sh -c`. `DeployAction` is the executor's `deploy` step.
"""

from sidebyside.deploy.actions import DeployAction, deploy_fact_key
from sidebyside.deploy.model import EventDigest, TaskFailure, sbs_vars

__all__ = ["DeployAction", "EventDigest", "TaskFailure", "deploy_fact_key", "sbs_vars"]

"""`oslo-config-validator` of the new release against its own option metadata.

Its verdict: an option that is not part of the metadata is an ERROR (exit 1); a
deprecated name is a WARNING. Options of groups the metadata describes incompletely
(keystone_authtoken: auth plugin options) are only logged at INFO by the validator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from sidebyside.config.ini import dynamic_groups as dynamic_groups  # re-exported
from sidebyside.errors import VerificationError
from sidebyside.redact import redact
from sidebyside.remote.base import Host

_LINE = re.compile(r"^(?P<level>ERROR|WARNING|CRITICAL):[\w.]*:(?P<message>.*)$")


@dataclass(frozen=True)
class ValidationResult:
    config_file: str
    returncode: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors

    def to_dict(self) -> dict[str, object]:
        return {"config_file": self.config_file, "ok": self.ok,
                "returncode": self.returncode, "errors": self.errors,
                "warnings": self.warnings}


def parse_validator_output(config_file: str, output: str, returncode: int) -> ValidationResult:
    """Split the validator's log lines into errors and warnings (pure).

    A non-zero exit without any ERROR line (the validator crashed, e.g. on a line
    oslo.config cannot parse) counts as one error carrying the output's tail.
    """
    errors: list[str] = []
    warnings: list[str] = []
    for line in output.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        message = redact(match.group("message").strip())
        (warnings if match.group("level") == "WARNING" else errors).append(message)
    if returncode != 0 and not errors:
        tail = " | ".join(output.strip().splitlines()[-3:])
        errors.append(redact(f"validator exited {returncode}: {tail}"))
    return ValidationResult(config_file, returncode, errors, warnings)


def slim_opt_data(metadata_yaml: str) -> str:
    """The generator's metadata cut to what the validator reads (names, dests,
    defaults, deprecated names): a tenth of the size, so the validator's pure-Python
    YAML load takes a fraction of a second instead of seconds for nova."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    data = yaml.load(metadata_yaml, Loader=loader)  # noqa: S506 - a safe loader
    slim = {
        "deprecated_options": data.get("deprecated_options") or {},
        "options": {
            group: {"opts": [{k: opt.get(k) for k in ("name", "dest", "default", "type")}
                             for opt in (group_data or {}).get("opts") or []]}
            for group, group_data in (data.get("options") or {}).items()},
    }
    text: str = yaml.dump(slim, Dumper=dumper, default_flow_style=False)
    return text


def validator_argv(venv_bin: str, config_file: str, opt_data: str,
                   exclude_groups: Sequence[str] = ()) -> list[str]:
    argv = [f"{venv_bin.rstrip('/')}/oslo-config-validator", "--input-file", config_file,
            "--opt-data", opt_data]
    for group in exclude_groups:
        argv += ["--exclude-group", group]
    return argv


def validate_config(host: Host, venv_bin: str, config_file: str, opt_data: str, *,
                    exclude_groups: Sequence[str] = (),
                    timeout: float = 120.0) -> ValidationResult:
    """Run the validator on host (paths are the host's).

    Raises RemoteError when the host cannot run it at all.
    """
    result = host.run(validator_argv(venv_bin, config_file, opt_data, exclude_groups),
                      check=False, timeout=timeout)
    return parse_validator_output(config_file, result.stderr + "\n" + result.stdout,
                                  result.returncode)


def require_valid(results: Sequence[ValidationResult]) -> None:
    """Raises VerificationError naming every file with validator errors."""
    failed = [r for r in results if not r.ok]
    if failed:
        lines = [f"{r.config_file}: {e}" for r in failed for e in r.errors]
        raise VerificationError("oslo-config-validator reports errors:\n" + "\n".join(lines))

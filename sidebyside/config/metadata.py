"""Option metadata of a release, as `oslo-config-generator --format yaml` writes it.

The generator runs where the release is installed (the new controller, through a
Host); parsing the YAML is pure. The model answers the questions translation asks:
is (group, name) an option, under which current name does a deprecated one live, what
is its default, is it secret, is it deprecated for removal and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from sidebyside.config.ini import normalize_key, normalize_section
from sidebyside.errors import InputError
from sidebyside.remote.base import Host


@dataclass(frozen=True)
class OptionMeta:
    group: str
    name: str
    dest: str
    type: str  # the generator's words: "string value", "multi valued", "boolean value" ...
    default: Any
    sample_default: Any = None
    secret: bool = False
    deprecated_for_removal: bool = False
    deprecated_reason: str | None = None
    deprecated_since: str | None = None
    deprecated_names: tuple[tuple[str, str], ...] = ()  # (group, name) it is also read as
    namespace: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def multi(self) -> bool:
        return self.type == "multi valued"

    @property
    def ref(self) -> str:
        return f"[{self.group}] {self.name}"


@dataclass(frozen=True)
class Lookup:
    """How a (group, key) found in a file maps onto an option of a release."""

    option: OptionMeta
    via_deprecated_name: bool  # True: the file uses an old name or group


@dataclass
class ReleaseMetadata:
    """Every option one service knows at one release."""

    service: str
    release: str
    options: dict[tuple[str, str], OptionMeta] = field(default_factory=dict)
    deprecated: dict[tuple[str, str], OptionMeta] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)

    @staticmethod
    def _key(group: str, name: str) -> tuple[str, str]:
        return normalize_section(group), normalize_key(name)

    def add(self, option: OptionMeta) -> None:
        self.options[self._key(option.group, option.name)] = option
        self.groups.add(normalize_section(option.group))
        for group, name in option.deprecated_names:
            self.deprecated.setdefault(self._key(group, name), option)

    def option(self, group: str, name: str) -> OptionMeta | None:
        return self.options.get(self._key(group, name))

    def lookup(self, group: str, name: str) -> Lookup | None:
        """The option read from (group, name): itself, or the one it is a deprecated
        name of. None when the release does not know it at all."""
        key = self._key(group, name)
        if key in self.options:
            option = self.options[key]
            # e.g. [keystone_authtoken] auth_uri: an option deprecated for removal that
            # is also the deprecated name of its successor (www_authenticate_uri):
            # the value lives on under the successor.
            successor = self.deprecated.get(key)
            if option.deprecated_for_removal and successor is not None \
                    and successor is not option:
                return Lookup(successor, via_deprecated_name=True)
            return Lookup(option, via_deprecated_name=False)
        if key in self.deprecated:
            return Lookup(self.deprecated[key], via_deprecated_name=True)
        return None

    def knows_group(self, group: str) -> bool:
        return normalize_section(group) in self.groups


def parse_metadata(text: str | bytes, *, service: str, release: str,
                   source: str = "<metadata>") -> ReleaseMetadata:
    """Parse the generator's YAML. Raises InputError (naming source) when it is not
    generator output.

    The same text is parsed once per process: a service's metadata is ~1 MB that every
    controller's translation reads again. Nothing changes a ReleaseMetadata once it is
    built, so the parsed one is shared."""
    data = text.encode() if isinstance(text, str) else text
    try:
        return _parse_once(data, service, release)
    except _NotMetadata as exc:  # named by where it came from, never cached
        raise InputError(f"{source}: {exc}") from None


class _NotMetadata(Exception):
    """What is wrong with a text that is not generator output (its source added by
    parse_metadata)."""


@lru_cache(maxsize=16)
def _parse_once(text: bytes, service: str, release: str) -> ReleaseMetadata:
    # libyaml when present: a service's metadata is ~1 MB of YAML
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise _NotMetadata(f"not YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        raise _NotMetadata("no `options` mapping: not oslo-config-generator "
                           "--format yaml output")
    metadata = ReleaseMetadata(service=service, release=release)
    for group, group_data in data["options"].items():
        for raw in (group_data or {}).get("opts") or []:
            try:
                metadata.add(_option(str(group), raw))
            except (KeyError, TypeError) as exc:
                raise _NotMetadata(f"options.{group}: malformed option "
                                   f"{raw.get('name') if isinstance(raw, dict) else raw!r}: "
                                   f"{exc}") from None
    # `deprecated_options` repeats what deprecated_opts say, but also covers options
    # whose replacement lives in another namespace's group: take both.
    for group, entries in (data.get("deprecated_options") or {}).items():
        for entry in entries or []:
            target = metadata.option(entry.get("replacement_group") or group,
                                     entry.get("replacement_name") or entry["name"])
            if target is not None:
                metadata.deprecated.setdefault(
                    ReleaseMetadata._key(str(group), entry["name"]), target)
    return metadata


def _option(group: str, raw: dict[str, Any]) -> OptionMeta:
    deprecated = tuple(
        (str(d.get("group") or group), str(d.get("name") or raw["name"]))
        for d in raw.get("deprecated_opts") or [])
    return OptionMeta(
        group=group, name=str(raw["name"]), dest=str(raw.get("dest") or raw["name"]),
        type=str(raw.get("type") or "string value"), default=raw.get("default"),
        sample_default=raw.get("sample_default"), secret=bool(raw.get("secret")),
        deprecated_for_removal=bool(raw.get("deprecated_for_removal")),
        deprecated_reason=_clean(raw.get("deprecated_reason")),
        deprecated_since=_clean(raw.get("deprecated_since")),
        deprecated_names=deprecated, namespace=raw.get("namespace"),
        choices=tuple(str(c[0]) if isinstance(c, list | tuple) else str(c)
                      for c in raw.get("choices") or []))


def _clean(text: object) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(str(text).split())
    return cleaned or None


def load_metadata(path: str, *, service: str, release: str) -> ReleaseMetadata:
    """Read a metadata YAML file. Raises InputError when missing or malformed."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read option metadata: {exc.strerror}") from None
    return parse_metadata(text, service=service, release=release, source=path)


# ---- service knowledge -------------------------------------------------------------

@dataclass(frozen=True)
class ConfigFileSpec:
    service: str
    path: str  # relative to /etc
    kind: str  # oslo | paste | policy | review
    namespaces: tuple[str, ...] = ()
    optional: bool = False
    drop_in_dir: str | None = None
    directory: bool = False
    review: bool = False
    note: str = ""


@dataclass(frozen=True)
class ServiceConfigSpec:
    service: str
    files: tuple[ConfigFileSpec, ...]
    key_repositories: tuple[str, ...]

    @property
    def main_file(self) -> ConfigFileSpec:
        return next(f for f in self.files if f.kind == "oslo")

    def file(self, path: str) -> ConfigFileSpec | None:
        return next((f for f in self.files if f.path == path
                     or f.path.rsplit("/", 1)[-1] == path.rsplit("/", 1)[-1]), None)


@cache
def _services_data() -> dict[str, Any]:
    text = resources.files("sidebyside.config").joinpath("services.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def service_spec(service: str) -> ServiceConfigSpec:
    """What sbs carries for a service. Raises InputError for an unknown service."""
    data = _services_data()
    if service not in data or service == "tls_options":
        known = ", ".join(sorted(k for k in data if k != "tls_options"))
        raise InputError(f"unknown service {service!r} (known: {known})")
    entry = data[service]
    files = tuple(ConfigFileSpec(
        service=service, path=f["path"], kind=f["kind"],
        namespaces=tuple(f.get("namespaces") or ()), optional=bool(f.get("optional")),
        drop_in_dir=f.get("drop_in_dir"), directory=bool(f.get("directory")),
        review=bool(f.get("review")) or f["kind"] == "review", note=str(f.get("note", "")))
        for f in entry["files"])
    return ServiceConfigSpec(service, files, tuple(entry.get("key_repositories") or ()))


def tls_options() -> list[tuple[str, str]]:
    return [(str(g), str(o)) for g, o in _services_data()["tls_options"]]


# ---- generation (effect: runs the generator on a host) -----------------------------

def generator_argv(venv_bin: str, namespaces: Iterable[str], *,
                   output_format: str = "yaml") -> list[str]:
    argv = [f"{venv_bin.rstrip('/')}/oslo-config-generator", "--format", output_format]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return argv


def generate_metadata_text(host: Host, venv_bin: str, namespaces: Sequence[str], *,
                           output_format: str = "yaml", timeout: float = 300.0) -> str:
    """Run oslo-config-generator of the release installed at venv_bin on host and
    return its output (YAML metadata, or a sample INI with output_format="ini").

    Raises RemoteError when the generator fails or the host is unreachable.
    """
    result = host.run(generator_argv(venv_bin, namespaces, output_format=output_format),
                      timeout=timeout)
    return result.stdout


def generate_metadata(host: Host, venv_bin: str, service: str, release: str,
                      namespaces: Sequence[str] | None = None) -> tuple[ReleaseMetadata, str]:
    """Generate and parse a service's metadata on host: (model, raw YAML to keep).

    Raises RemoteError (generator failed) or InputError (output not metadata).
    """
    spaces = list(namespaces or service_spec(service).main_file.namespaces)
    text = generate_metadata_text(host, venv_bin, spaces)
    source = f"{host.name}:{venv_bin}/oslo-config-generator ({service} {release})"
    return parse_metadata(text, service=service, release=release, source=source), text


# ---- defaults ----------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _as_text_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def equals_default(option: OptionMeta, values: Sequence[str]) -> bool:
    """True when the value(s) a file sets are what the option would be anyway.

    Comparison follows the option's type (booleans in any spelling, numbers as
    numbers, lists item by item); a default of None only matches an empty value.
    """
    if option.multi:
        return [v.strip() for v in values] == _as_text_list(option.default)
    if not values:
        return True
    value = values[-1].strip()
    default = option.default
    if default is None:
        return value == ""
    kind = option.type
    if kind == "boolean value":
        lowered = value.lower()
        return (lowered in _TRUE and default is True) or (lowered in _FALSE and default is False)
    if kind in ("integer value", "port value", "floating point value"):
        try:
            return float(value) == float(default)
        except (TypeError, ValueError):
            return False
    if kind == "list value":
        items = [v.strip() for v in value.split(",") if v.strip()]
        return items == _as_text_list(default)
    if kind == "dict value":
        if isinstance(default, dict):
            try:
                pairs = dict(item.split(":", 1) for item in value.split(",") if item.strip())
            except ValueError:
                return False
            return {k.strip(): v.strip() for k, v in pairs.items()} == \
                {str(k): str(v) for k, v in default.items()}
        return value == str(default)
    return value == str(default)

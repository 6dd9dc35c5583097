"""The RPC version pins of nova's controllers (`[upgrade_levels]`), and taking them away
once every compute runs the new release (`sbs finalize`).

While compute nodes of the old release are registered, the new control plane must
speak their RPC version: `[upgrade_levels] compute = auto` finds it from the services
table (nova/compute/rpcapi.py, LAST_VERSION from the minimum service version), a
release name or version pins it by hand. `auto` needs nothing removed (the services
only re-read the minimum at start: finalize restarts them); a hand-made pin left after
the last old compute is gone holds the cloud at the old RPC for good, so it is removed
(a comment says why and keeps the value).

Pure: bytes in, bytes out.
"""

from __future__ import annotations

from sidebyside.config.ini import Document

SECTION = "upgrade_levels"
AUTO = "auto"


def pins(data: bytes, *, path: str | None = None) -> dict[str, str]:
    """The `[upgrade_levels]` options of a nova.conf, `auto` ones included."""
    document = Document.parse(data, path=path)
    return {entry.key: entry.value for section, entry in document.iter_entries()
            if (section.name or "") == SECTION}


def remove_manual_pins(data: bytes, *, path: str | None = None,
                       release: str) -> tuple[bytes, list[str]]:
    """`data` without the `[upgrade_levels]` options that pin a version by hand (`auto`
    and empty ones stay); returns the new bytes and `[upgrade_levels] key = value` of
    each one removed (the bytes are `data` itself when nothing is)."""
    document = Document.parse(data, path=path)
    removed = []
    for section, entry in list(document.iter_entries()):
        if (section.name or "") != SECTION:
            continue
        value = entry.value.strip()
        if not value or value.lower() == AUTO:
            continue
        document.remove(entry, reason=f"every nova service runs {release} (sbs finalize)")
        removed.append(f"[{SECTION}] {entry.key} = {value}")
    return (document.to_bytes() if removed else data), removed

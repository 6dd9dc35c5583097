"""Error kinds of the database copy, mapped onto the stable exit codes of sidebyside.errors.

    unreachable server, wrong password, server gone mid-copy -> UnreachableError (8)
    unknown database, bad URL or password source           -> InputError (2)
    missing privileges                                       -> PreflightError (3)
    non-empty target without replace                         -> DataLossRefused (10)
    disk full and any other failed statement                 -> DbStepFailed (StepFailed, 4)
    checksum/count/schema mismatch                           -> VerificationError (9)
"""

from __future__ import annotations

from sidebyside.errors import (
    DataLossRefused,
    InputError,
    PreflightError,
    SbsError,
    StepFailed,
    UnreachableError,
    VerificationError,
)

__all__ = ["DataLossRefused", "DbStepFailed", "InputError", "PreflightError", "SbsError",
           "UnreachableError", "VerificationError", "error_for_code"]

# MySQL/MariaDB error numbers we tell apart
ACCESS_DENIED = {1045, 1698}
UNKNOWN_DATABASE = {1049}
PRIVILEGE = {1044, 1142, 1143, 1227, 1370}
DISK_FULL = {1021, 1114, 3, 1030}
CONNECTION = {2002, 2003, 2005, 2006, 2013, 2026, 2055}  # 2026: TLS refused or missing


class DbStepFailed(StepFailed):
    """A database statement or tool failed during copy, backup or restore."""

    def __init__(self, message: str, *, step_id: str = "db-copy",
                 hint: str | None = None) -> None:
        super().__init__(step_id, message, hint=hint)


def error_for_code(code: int, message: str, *, where: str) -> SbsError:
    """The sbs error for a server error number, its message prefixed with `where`."""
    text = f"{where}: {message}"
    if code in ACCESS_DENIED:
        return UnreachableError(f"{where}: access denied (wrong user or password?)")
    if code in CONNECTION:
        return UnreachableError(text)
    if code in UNKNOWN_DATABASE:
        return InputError(text)
    if code in PRIVILEGE:
        return PreflightError(f"{text} (missing privilege)")
    if code in DISK_FULL or "No space left" in message or "disk full" in message.lower():
        return DbStepFailed(f"{text} (disk full?)",
                            hint="free space on the target, then re-run to resume")
    return DbStepFailed(text)


def verification_failed(message: str) -> VerificationError:
    return VerificationError(message, hint="the target copy is marked unusable; re-run the "
                                           "copy (it re-copies what does not verify)")

"""One root error type; each subclass carries a stable exit code.

Only the CLI layer (`sidebyside.cli`) turns these into process exit codes.
The codes are documented in the README and must never be renumbered.
"""

from __future__ import annotations


class SbsError(Exception):
    """Root of every error sbs raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"error": self.kind, "message": self.message,
                                   "exit_code": self.exit_code}
        if self.hint:
            data["hint"] = self.hint
        return data


class InputError(SbsError):
    """Bad input: inventory, config file, argument or credential reference."""

    exit_code = 2
    kind = "bad-input"


class InventoryError(InputError):
    """The inventory file is invalid; `problems` lists `file: path: what` lines."""

    kind = "bad-inventory"

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '<root>'}: {what}" for path, what in problems]
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["problems"] = [{"file": self.file, "field": p, "problem": w}
                            for p, w in self.problems]
        return data


class PreflightError(SbsError):
    """Pre-flight checks found something that blocks the run."""

    exit_code = 3
    kind = "preflight-failed"


class StepFailed(SbsError):
    """A step failed; the run is journaled and can be resumed by re-running."""

    exit_code = 4
    kind = "step-failed"

    def __init__(self, step_id: str, message: str, *, hint: str | None = None) -> None:
        self.step_id = step_id
        self.detail = message
        super().__init__(f"step {step_id} failed: {message}",
                         hint=hint or "fix the cause and re-run the same command to resume")


class CutoverRolledBack(SbsError):
    """Cutover verification failed and traffic was switched back automatically."""

    exit_code = 5
    kind = "cutover-rolled-back"


class RollbackFailed(SbsError):
    """Rollback could not restore the old controller; operator action needed."""

    exit_code = 6
    kind = "rollback-failed"


class LockedError(SbsError):
    """Another sbs process holds the run lock for this environment."""

    exit_code = 7
    kind = "locked"


class UnreachableError(SbsError):
    """A host, database or API endpoint could not be reached or refused us."""

    exit_code = 8
    kind = "unreachable"


class VerificationError(SbsError):
    """A copy or a cloud did not verify (checksums, counts, smoke checks)."""

    exit_code = 9
    kind = "verification-failed"


class DataLossRefused(SbsError):
    """Rollback would drop data written on the new side since cutover."""

    exit_code = 10
    kind = "data-loss-refused"


class Aborted(SbsError):
    """The operator declined a confirmation or interrupted the run between steps."""

    exit_code = 130
    kind = "aborted"

"""`os.environ/VAR` references in config values, resolved once at start-up."""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "os.environ/"


class MissingCredentialError(Exception):
    """A config value points at an environment variable that is not set."""

    def __init__(self, variable: str, where: str) -> None:
        super().__init__(f"environment variable {variable} is not set (needed by {where})")
        self.variable = variable
        self.where = where


def is_env_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def resolve(value: str | None, env: Mapping[str, str], where: str, required: bool = True) -> str | None:
    """The value itself, or the environment variable it names. `where` names the consumer."""
    if not is_env_ref(value):
        return value
    variable = value[len(PREFIX) :].strip()  # type: ignore[index]
    resolved = env.get(variable)
    if resolved is None or resolved == "":
        if required:
            raise MissingCredentialError(variable, where)
        return None
    return resolved

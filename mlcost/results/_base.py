"""What every result shares: the schema check of its JSON twin, its notebook views, and reading a row back."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from mlcost.errors import InputError


def expect_schema(data: Any, schema: str, what: str) -> None:
    """Refuse JSON that is not WHAT (its "schema" key must be SCHEMA), in one line."""
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not {what}: expected schema {schema!r}, found {found!r}")


class Displayable:
    """Shared by every result: shown as its terminal view in rich (``rich.print(result)``) and in a notebook
    (``_repr_html_``), and exported with ``to_pandas()`` (pandas imported only then).  mlcost.render.notebook."""

    __slots__ = ()

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from mlcost.render.notebook import rich_console

        return rich_console(self, console, options)

    def _repr_html_(self) -> str:
        from mlcost.render.notebook import html

        return html(self)

    def to_pandas(self, table: str | None = None) -> Any:
        """A pandas DataFrame (a Profile: TABLE "modules", "operators" or "unsupported")."""
        from mlcost.render.notebook import to_pandas

        return to_pandas(self, table)


def _row(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})

"""Field types every input schema shares, whatever resource it describes."""

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError


def _storable(value: str) -> str:
    # Postgres text and jsonb cannot hold NUL, and UTF-8 cannot encode a lone surrogate.
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "string_surrogate", "must not contain unpaired surrogate characters"
        ) from None
    return value


# Every free-text input (bodies and query strings): storable in Postgres and encodable as UTF-8.
SafeStr = Annotated[
    str,
    AfterValidator(_storable),
    # Described in the schema too (NUL is refused; a lone surrogate cannot be sent as JSON).
    Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}),
]

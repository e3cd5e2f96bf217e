"""Who is calling: projects, their API keys, the local credentials file, the first start.

- `projects`: projects and keys (create, list, revoke, resolve a presented key to a `Caller`).
- `credentials`: the 0600 credentials file with the operator token and a first write key.
- `bootstrap`: the first start (`python -m models.identity`): operator token, a
  `default` project and its write key."""

from models.identity.bootstrap import (
    ForeignCredentials,
    first_start,
)
from models.identity.credentials import (
    admin_token,
    write_credentials,
)
from models.identity.projects import (
    KEY_PATTERN,
    LAST_USED_EVERY_SECONDS,
    create_key,
    create_project,
    find_key,
    get_project,
    hash_key,
    key_in_force,
    list_keys,
    list_projects,
    revoke_key,
    touch_key,
    update_quotas,
)
from models.identity.schemas import (
    Caller,
    KeyCreate,
    KeyCreated,
    KeyRead,
    ProjectCreate,
    ProjectRead,
    Quotas,
    Role,
)

__all__ = [
    "KEY_PATTERN",
    "LAST_USED_EVERY_SECONDS",
    "Caller",
    "ForeignCredentials",
    "KeyCreate",
    "KeyCreated",
    "KeyRead",
    "ProjectCreate",
    "ProjectRead",
    "Quotas",
    "Role",
    "admin_token",
    "create_key",
    "create_project",
    "find_key",
    "first_start",
    "get_project",
    "hash_key",
    "key_in_force",
    "list_keys",
    "list_projects",
    "revoke_key",
    "touch_key",
    "update_quotas",
    "write_credentials",
]

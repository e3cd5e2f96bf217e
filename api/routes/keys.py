"""HTTP adapters for a project admin managing its own project's keys."""

import uuid

from fastapi import APIRouter

from api.auth import Admin
from api.deps import SessionDep
from api.openapi import BODY, CALLER, DATABASE, responses
from api.routing import JsonBodyRoute
from models.identity import KeyCreate, KeyCreated, KeyRead, create_key, list_keys, revoke_key

router = APIRouter(
    prefix="/keys",
    tags=["keys"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER, *DATABASE),
)


@router.get("", summary="List your project's keys")
def list_own(caller: Admin, session: SessionDep) -> list[KeyRead]:
    """The project's keys (never their secrets)."""
    return [KeyRead.model_validate(k) for k in list_keys(session, project_id=caller.project_id)]


@router.post("", status_code=201, summary="Create a key", responses=responses(*BODY))
def create(key: KeyCreate, caller: Admin, session: SessionDep) -> KeyCreated:
    """Make a key for the project; the answer is the only place its secret appears."""
    created = create_key(session, project_id=caller.project_id, key=key)
    session.commit()
    return created


@router.delete("/{key_id}", summary="Revoke a key", responses=responses(404, 422))
def revoke(key_id: uuid.UUID, caller: Admin, session: SessionDep) -> KeyRead:
    """Revoke one of the project's keys; it stops working on every API process at once."""
    row = revoke_key(session, key_id=key_id, project_id=caller.project_id)
    session.commit()
    return KeyRead.model_validate(row)

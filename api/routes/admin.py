"""HTTP adapters for the operator (`LRLAB_ADMIN_TOKEN`): projects, quotas, any project's keys."""

import uuid

from fastapi import APIRouter, Depends

from api.auth import OPERATOR
from api.deps import SessionDep
from api.openapi import BODY, CALLER, DATABASE, responses
from api.routing import JsonBodyRoute
from models.identity import (
    KeyCreate,
    KeyCreated,
    KeyRead,
    ProjectCreate,
    ProjectRead,
    Quotas,
    create_key,
    create_project,
    get_project,
    list_keys,
    list_projects,
    revoke_key,
    update_quotas,
)

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(OPERATOR)],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER, *DATABASE),
)


@router.post(
    "/projects", status_code=201, summary="Create a project", responses=responses(*BODY, 409)
)
def create_one(project: ProjectCreate, session: SessionDep) -> ProjectRead:
    """Create a project (409 if the name is taken)."""
    row = create_project(session, project=project)
    session.commit()
    return ProjectRead.model_validate(row)


@router.get("/projects", summary="List projects")
def list_all(session: SessionDep) -> list[ProjectRead]:
    """Every project with its quota overrides."""
    return [ProjectRead.model_validate(p) for p in list_projects(session)]


@router.patch("/projects/{name}", summary="Set a project's quotas", responses=responses(*BODY, 404))
def set_quotas(name: str, quotas: Quotas, session: SessionDep) -> ProjectRead:
    """Override (or, with null, reset) a project's quotas."""
    row = update_quotas(session, name=name, quotas=quotas)
    session.commit()
    return ProjectRead.model_validate(row)


@router.post(
    "/projects/{name}/keys",
    status_code=201,
    summary="Create a project's key",
    responses=responses(*BODY, 404),
)
def create_project_key(name: str, key: KeyCreate, session: SessionDep) -> KeyCreated:
    """Make a key for the project; the answer is the only place its secret appears."""
    created = create_key(session, project_id=get_project(session, name=name).id, key=key)
    session.commit()
    return created


@router.get("/projects/{name}/keys", summary="List a project's keys", responses=responses(404, 422))
def list_project_keys(name: str, session: SessionDep) -> list[KeyRead]:
    """The project's keys (never their secrets)."""
    project = get_project(session, name=name)
    return [KeyRead.model_validate(k) for k in list_keys(session, project_id=project.id)]


@router.delete("/keys/{key_id}", summary="Revoke any key", responses=responses(404, 422))
def revoke(key_id: uuid.UUID, session: SessionDep) -> KeyRead:
    """Revoke any key."""
    row = revoke_key(session, key_id=key_id, project_id=None)
    session.commit()
    return KeyRead.model_validate(row)

"""HTTP adapter for the datasets' sizes."""

from fastapi import APIRouter, Depends

from api.auth import READ
from api.deps import SettingsDep
from api.openapi import CALLER, DATABASE, responses
from models.errors import UnavailableError
from models.jobs import DatasetRead, dataset_sizes, recent_workers

router = APIRouter(tags=["datasets"], responses=responses(*CALLER, *DATABASE))


@router.get("/datasets", summary="List datasets and their sizes", dependencies=[Depends(READ)])
def list_datasets(settings: SettingsDep) -> list[DatasetRead]:
    """Each dataset's training and validation samples, as the live workers loaded them."""
    workers = recent_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    if workers is None:
        raise UnavailableError("cannot read the dataset sizes: the broker (Redis) is unreachable")
    return dataset_sizes(workers)

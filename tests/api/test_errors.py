"""The mapping of infrastructure errors onto documented HTTP answers."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.errors import install_error_handlers


def test_a_pool_timeout_is_the_documented_503() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    def busy() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/busy")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.json() == {"detail": "database busy, try again shortly"}

"""GET /models: the catalog of model families, optimizers and datasets, and what it validates."""

from fastapi.testclient import TestClient


def test_catalog_lists_families_with_schema_defaults_and_parameter_count(
    client: TestClient,
) -> None:
    response = client.get("/models")
    assert response.status_code == 200, response.text
    body = response.json()
    families = {f["type"]: f for f in body["families"]}
    assert set(families) == {"mlp", "cnn"}
    assert families["mlp"]["defaults"]["hidden_units"] == [128]
    assert families["mlp"]["parameter_count"] == 101_770
    assert families["cnn"]["parameters"]["properties"]["kernel_size"]["maximum"] == 7
    optimizers = {o["name"] for o in body["optimizers"]}
    assert {"adam", "adamw", "sgd", "rmsprop", "nadam", "lion", "schedule_free_adamw"} == optimizers
    assert [d["name"] for d in body["datasets"]] == ["mnist", "fashion_mnist"]


def test_bad_model_and_optimizer_parameters_are_422_by_name(client: TestClient) -> None:
    """POST /experiments refuses a parameter the optimizer lacks with a 422 naming it."""
    response = client.post(
        "/experiments",
        json={
            "scheduler": {"type": "constant"},
            "model": {"type": "cnn", "kernel_size": 9},
            "training": {"optimizer": "adamw", "momentum": 0.5},
        },
    )
    assert response.status_code == 422, response.text
    text = response.text
    assert "kernel_size" in text and "momentum" in text

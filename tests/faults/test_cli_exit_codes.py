"""The CLI's exit codes against a real API: 3 when the API answers 5xx, 1 for a run that failed."""

from typer.testing import CliRunner

from lrlab_client.cli import EXIT_RUN_FAILED, EXIT_UNAVAILABLE, app
from tests.faults.conftest import Stack, experiment_spec


def test_exit_3_while_the_api_answers_5xx_and_1_for_a_run_that_did_not_succeed(
    stack: Stack,
) -> None:
    with stack.database_proxy() as (proxy, via_proxy):
        api = stack.api(LRLAB_DATABASE_URL=via_proxy)
        experiment_id = stack.submit(api, **experiment_spec(2, train_samples=500))
        runner = CliRunner()
        env = {"LRLAB_API_KEY": api.api_key}

        # The database behind the API is gone: the API answers 503, the CLI exits 3.
        proxy.cut()
        down = runner.invoke(app, ["status", experiment_id, "--api", api.url], env=env)
        assert down.exit_code == EXIT_UNAVAILABLE, down.output
        assert "HTTP 503" in down.output
        proxy.restore()

        # No worker serves this stack: cancel the run, and watching it exits 1.
        assert api.client.post(f"/experiments/{experiment_id}/cancel").status_code == 200
        watched = runner.invoke(app, ["watch", experiment_id, "--api", api.url], env=env)
        assert watched.exit_code == EXIT_RUN_FAILED, watched.output

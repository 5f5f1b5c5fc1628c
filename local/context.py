"""SAM's InvokeContext (template, stacks, function provider, env-vars file, LocalLambdaRunner) without Docker."""

from __future__ import annotations

import os
import threading
from typing import Any

from samcli.commands.local.cli_common.invoke_context import InvokeContext
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner

from local.runtime import ProcessLambdaRuntime


class CachedCredentialsRunner(LocalLambdaRunner):
    """LocalLambdaRunner resolves AWS credentials on every invoke and, when there are none, searches the whole
    chain again each time (on a laptop that includes a ~2 s instance-metadata probe). Resolve them once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._creds_lock = threading.Lock()
        self._creds: dict[str, str] | None = None

    def get_aws_creds(self) -> dict[str, str]:
        with self._creds_lock:
            if self._creds is None:
                self._creds = super().get_aws_creds()
            return dict(self._creds)


class LocalInvokeContext(InvokeContext):
    def __init__(self, runtime: ProcessLambdaRuntime, **kwargs: Any) -> None:
        self._process_runtime = runtime
        self._runner: LocalLambdaRunner | None = None
        super().__init__(**kwargs)

    @staticmethod
    def _get_container_manager(*_args: Any, **_kwargs: Any) -> Any:
        return None  # SAM's ContainerManager connects to Docker as soon as it is created

    @property
    def lambda_runtime(self) -> ProcessLambdaRuntime:
        return self._process_runtime

    @property
    def local_lambda_runner(self) -> LocalLambdaRunner:
        # As InvokeContext.local_lambda_runner, with the credentials cached.
        if self._runner is None:
            self._runner = CachedCredentialsRunner(
                local_runtime=self.lambda_runtime,
                function_provider=self._function_provider,
                cwd=self.get_cwd(),
                real_path=os.path.dirname(os.path.abspath(self._template_file)),
                aws_profile=self._aws_profile,
                aws_region=self._aws_region,
                env_vars_values=self._env_vars_value,
                debug_context=self._debug_context,
            )
        return self._runner

    def __exit__(self, *args: Any) -> None:
        try:
            super().__exit__(*args)
        finally:
            self._process_runtime.pool.shutdown()

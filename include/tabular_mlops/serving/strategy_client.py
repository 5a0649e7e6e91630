"""deploy_model's hand on the running scoring service: read the strategy in force (GET /admin/deploy), load the
challenger now, reload the champion, switch the strategy (PUT /admin/strategy, which records who, when, from and
to in the deploy log and on the challenger's tags). The URL and token come from the environment the local stack
hands every process ($MLOPS_SERVING_URL, $MLOPS_SERVING_ADMIN_TOKEN or _FILE).

Unlike reload_client (best effort after a promotion that already happened), a rollout step cannot go on without
the service: every failure raises, naming the URL, before the step changes the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tabular_mlops.core.config import ServingConfig
from tabular_mlops.serving.reload_client import service_url
from tabular_mlops.serving.settings import ENV_ADMIN_TOKEN, ENV_ADMIN_TOKEN_FILE, admin_token_from_environ

# Loading and testing a challenger takes seconds on a busy machine; a switch is a log row and a few tags.
TIMEOUT_SECONDS = 120.0


class ServiceUnreachable(RuntimeError):
    """The scoring service did not answer (or no admin token is set); the message names the URL."""


class ServiceRefused(RuntimeError):
    """The service answered with an error status (a switch it refused, a bad token); its reason is quoted."""


@dataclass(frozen=True)
class StrategyClient:
    url: str
    token: str | None
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_environ(cls, serving: ServingConfig) -> StrategyClient:
        """The service of this environment; the token is read now and only missed at the first call (a run
        with nothing to roll out needs no service)."""
        url = service_url(serving)
        try:
            token = admin_token_from_environ()
        except Exception as exc:  # an unreadable token file: say where
            raise ServiceUnreachable(f"the scoring service at {url}: {exc}") from exc
        return cls(url, token)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        if self.token is None:
            raise ServiceUnreachable(
                f"the scoring service at {self.url} cannot be switched: neither {ENV_ADMIN_TOKEN} nor "
                f"{ENV_ADMIN_TOKEN_FILE} is set"
            )

        try:
            # trust_env=False: the service is ours; a configured proxy must not carry the token elsewhere.
            resp = httpx.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(
                f"the scoring service at {self.url} cannot be reached ({method} {path}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            answer = resp.json()
        except ValueError:
            answer = {"detail": resp.text[:500]}
        if resp.status_code != 200:
            raise ServiceRefused(
                f"the scoring service at {self.url} refused {method} {path} (HTTP {resp.status_code}): "
                f"{answer.get('reason') or answer.get('detail') or answer}"
            )
        return answer

    def state(self) -> dict[str, Any]:
        """The strategy in force and its figures (strategy, since, actor, reason, challenger, shadow counts)."""
        return dict(self._call("GET", "/admin/deploy"))

    def prepare_challenger(self) -> str:
        """Load the `challenger` alias now (the service otherwise waits for its next registry poll)."""
        return str(self._call("POST", "/admin/challenger/reload").get("reason", ""))

    def reload_champion(self) -> str:
        """Load the `champion` alias now (after the rollout moved it)."""
        return str(self._call("POST", "/admin/reload").get("outcome", ""))

    def switch(self, strategy: str, actor: str, reason: str) -> dict[str, Any]:
        """Put `strategy` in force; the service records the change (who, when, from, to, why)."""
        body = {"strategy": strategy, "actor": actor[:200], "reason": reason[:2000]}
        return dict(self._call("PUT", "/admin/strategy", body))

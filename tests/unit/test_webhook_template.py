"""template.yaml's part of webhooks: the secret, who may read it (the worker alone), who may queue a retry."""

from __future__ import annotations

import json
from typing import Any


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "PolicyDocument" in policy:
            found.extend(policy["PolicyDocument"]["Statement"])
    return found


def test_only_the_worker_may_read_the_webhook_secret(template: dict[str, Any]) -> None:
    # Given the template's resources
    resources = template["Resources"]
    # When every place that names the webhook secret is found
    naming = [name for name, resource in resources.items() if '"WebhookSecret"' in json.dumps(resource)]
    # Then the secret is only the worker's: its variable and its role's one GetSecretValue on that secret alone
    assert sorted(naming) == ["WorkerFunction", "WorkerRole"]
    assert resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]["WEBHOOK_SECRET_NAME"] == {
        "Ref": "WebhookSecret"
    }
    reading = [s for s in statements(resources["WorkerRole"]) if s["Resource"] == {"Ref": "WebhookSecret"}]
    assert [s["Action"] for s in reading] == ["secretsmanager:GetSecretValue"]


def test_the_worker_and_the_dead_letter_handler_may_queue_a_delivery_on_the_jobs_queue_only(
    template: dict[str, Any],
) -> None:
    # Given the two roles that queue webhook deliveries
    resources = template["Resources"]
    # When their SendMessage statements are found
    for role in ("WorkerRole", "DeadLetterRole"):
        sending = [s for s in statements(resources[role]) if "sqs:SendMessage" in json.dumps(s["Action"])]
        # Then each may send to the jobs queue, and to nothing else
        assert [s["Resource"] for s in sending] == [{"Fn::GetAtt": "JobsQueue.Arn"}], role

"""template.yaml's deployment-wide alarms (issue 24): a budget on the stack's AWS cost and CloudWatch alarms on
characters and audio seconds a day, mailed to AlertEmail, and nothing of them without it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import ROOT

ALERTS = (
    "AlertTopic",
    "AlertEmailSubscription",
    "CostBudget",
    "CharactersPerDayAlarm",
    "AudioSecondsPerDayAlarm",
)
ALARMS = {
    "CharactersPerDayAlarm": "AlarmCharactersPerDay",
    "AudioSecondsPerDayAlarm": "AlarmAudioSecondsPerDay",
}
# Functions that never call the upstream: their metrics hold no characters or seconds.
NO_UPSTREAM = {"AuthorizerFunction", "JobsFunction", "DeadLetterFunction", "PageFunction"}


def _holds(condition: Any, parameters: dict[str, str]) -> bool:
    """A condition of Fn::Not / Fn::Equals / Ref, evaluated for these parameter values."""
    if "Fn::Not" in condition:
        return not _holds(condition["Fn::Not"][0], parameters)
    left, right = (
        parameters[side["Ref"]] if isinstance(side, dict) else side for side in condition["Fn::Equals"]
    )
    return bool(left == right)


def _emitted_metric_names() -> set[str]:
    """Every metric name the code adds (Powertools' add_metric), found in its source."""
    sources = [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    return {name for path in sources for name in re.findall(r'add_metric\(\s*name="(\w+)"', path.read_text())}


@pytest.mark.parametrize(("email", "created"), [("", False), ("owner@example.com", True)])
def test_the_budget_alarms_topic_and_subscription_exist_only_with_an_alert_email(
    template: dict[str, Any], transformed: dict[str, Any], email: str, created: bool
) -> None:
    # Given the template after the SAM transform, deployed with AlertEmail empty (the default) or set
    resources = transformed["Resources"]
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    # When the condition each alert resource carries is evaluated
    conditions = {name: resources[name].get("Condition") for name in ALERTS}
    # Then all five are under HasAlertEmail, which holds exactly when the address is set
    assert set(conditions.values()) == {"HasAlertEmail"}
    assert _holds(transformed["Conditions"]["HasAlertEmail"], {"AlertEmail": email}) is created
    # And nothing else of the stack mails or publishes anything
    types = {"AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::Budgets::Budget", "AWS::CloudWatch::Alarm"}
    assert {name for name, r in resources.items() if r["Type"] in types} == set(ALERTS)


def test_the_alarms_add_up_the_metrics_the_code_emits(template: dict[str, Any]) -> None:
    # Given the metric names in the code, the namespace the functions write to and each function's service name
    emitted = _emitted_metric_names()
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    services = {
        name: r["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    calling_upstream = {service for name, service in services.items() if name not in NO_UPSTREAM}
    for alarm_name in ALARMS:
        # When an alarm's metrics are read
        metrics = template["Resources"][alarm_name]["Properties"]["Metrics"]
        stats = [m["MetricStat"] for m in metrics if "MetricStat" in m]
        (total,) = [m for m in metrics if m.get("ReturnData")]
        # Then it sums one metric the code emits, in the functions' namespace, over a day
        (metric_name,) = {stat["Metric"]["MetricName"] for stat in stats}
        assert metric_name in emitted, f"{alarm_name} watches {metric_name}, which the code never emits"
        assert {stat["Metric"]["Namespace"] for stat in stats} == {namespace}
        assert {(stat["Period"], stat["Stat"]) for stat in stats} == {(86400, "Sum")}
        assert total["Expression"] == "SUM(METRICS())"
        # And it counts every function that calls the upstream, by the dimension Powertools gives each one
        dimensions = [stat["Metric"]["Dimensions"] for stat in stats]
        assert {d["Name"] for ds in dimensions for d in ds} == {"service"}
        assert {d["Value"] for ds in dimensions for d in ds} == calling_upstream
    # And those names are the characters read and the seconds of speech sent: what the upstreams bill
    assert {"CharactersSynthesized", "SpeechSecondsSent"} <= emitted


def test_powertools_names_the_service_dimension_as_the_alarms_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Powertools' metrics for a function whose service is speech-tts
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    function_metrics = Metrics(namespace="SpeechApi", service="speech-tts")
    function_metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=12)
    # When it serializes them as the handler's flush does
    blob = function_metrics.serialize_metric_set()
    function_metrics.clear_metrics()
    # Then the metric carries the one dimension the alarms name: service
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert blob["service"] == "speech-tts"


def test_thresholds_budget_and_mail_come_from_the_parameters(template: dict[str, Any]) -> None:
    # Given the template's alert resources and parameters
    resources, params = template["Resources"], template["Parameters"]
    # When their thresholds and recipients are read
    # Then each alarm's threshold is its parameter, over one 24-hour period, mailed through the topic
    for alarm_name, parameter in ALARMS.items():
        alarm = resources[alarm_name]["Properties"]
        assert alarm["Threshold"] == {"Ref": parameter} and params[parameter]["Type"] == "Number"
        assert (alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == ("GreaterThanThreshold", 1)
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert params["AlarmCharactersPerDay"]["Default"] == 2_000_000
    assert params["AlarmAudioSecondsPerDay"]["Default"] == 36_000
    # And the topic mails AlertEmail
    subscription = resources["AlertEmailSubscription"]["Properties"]
    assert subscription == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }
    # And the budget is monthly, in dollars from its parameter, on the stack's own cost allocation tag, mailing
    # AlertEmail at 80% spent and when forecast past it
    budget = resources["CostBudget"]["Properties"]
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "AlarmAwsCostPerMonth"}, "Unit": "USD"}
    assert (budget["Budget"]["BudgetType"], budget["Budget"]["TimeUnit"]) == ("COST", "MONTHLY")
    assert budget["Budget"]["CostFilters"] == {
        "TagKeyValue": [{"Fn::Sub": "aws:cloudformation:stack-name$${AWS::StackName}"}]
    }
    notices = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Subscribers"])
        for n in budget["NotificationsWithSubscribers"]
    ]
    mail = [{"SubscriptionType": "EMAIL", "Address": {"Ref": "AlertEmail"}}]
    assert notices == [("ACTUAL", 80, mail), ("FORECASTED", 100, mail)]


def test_the_template_lints_clean_with_an_alert_email() -> None:
    # Given the template with AlertEmail defaulting to an address (its resources then all exist)
    from cfnlint.api import ManualArgs, lint

    text, replaced = re.subn(
        r'(\n  AlertEmail:\n    Type: String\n    Default: )""',
        r"\1owner@example.com",
        (ROOT / "template.yaml").read_text(),
    )
    assert replaced == 1
    # When cfn-lint checks it, as `sam validate --lint` does
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    # Then it finds nothing
    assert [str(match) for match in matches] == []

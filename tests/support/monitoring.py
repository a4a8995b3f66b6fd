"""The monitoring files checked in (deploy/prometheus, deploy/grafana), and the metric
names their queries use."""

from __future__ import annotations

import json
import re

import yaml

from processes import BASE_DIR

PROMETHEUS = BASE_DIR / "deploy" / "prometheus"
DASHBOARD = BASE_DIR / "deploy" / "grafana" / "shop-events.json"


def rule_expressions() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            expressions.append(variable["definition"])
    return expressions


# Metric names in PromQL: the shop's own prefixes (functions, labels and keywords
# never start with them).
_METRIC = re.compile(r"\b((?:events|django_http)_[a-z_]+)\b")


def queried_metrics() -> set[str]:
    """The sample names the rules and the dashboard query."""
    return {
        name
        for expr in rule_expressions() + dashboard_expressions()
        for name in _METRIC.findall(expr)
    }

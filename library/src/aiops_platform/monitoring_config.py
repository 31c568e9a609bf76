"""monitoring/config.yaml: token prices and every alert threshold, in one validated file.

`monitor summary` prices tokens with it; `monitor alert-params` turns the thresholds into the
parameters file the alert-rule template (monitoring/alerts.json) is deployed with, so no
threshold is written twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiops_platform import paths
from aiops_platform.evaluation import ONLINE_JUDGES
from aiops_platform.problems import yaml_reason

CONFIG_FILE = paths.MONITORING_CONFIG
PARAMETERS_FILE = paths.ALERT_PARAMETERS
ARM_PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


class MonitoringConfigError(ValueError):
    """The monitoring config is invalid; the message names the field."""


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0, description="Currency units per 1,000 input tokens")
    output: float = Field(ge=0, description="Currency units per 1,000 output tokens")


class Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server_error_rate_percent: float = Field(gt=0, le=100, description="5xx share of requests over 15 min")
    latency_p95_ms: float = Field(gt=0, description="p95 request latency over 15 min")
    daily_tokens: int = Field(gt=0, description="Input + output tokens per day")
    daily_cost: float = Field(gt=0, description="Estimated cost per day, at the prices above")
    online_score_min: float = Field(ge=1, le=5, description="Lowest mean online judge score (1-5)")
    online_score_metric: str = Field(description="Which online judge's score the score-drop alert watches")
    cost_model: str = Field(description="The model whose prices the daily-cost alert uses")
    # Agent projects only (their tools' `execute_tool` spans): both set, or neither.
    tool_failure_rate_percent: float | None = Field(
        None, gt=0, le=100, description="Failed share of tool calls over 15 min"
    )
    tool_failure_min_calls: int | None = Field(
        None, ge=1, description="Tool calls in the window below which the tool-failure alert stays quiet"
    )

    @field_validator("online_score_metric")
    @classmethod
    def _online_judge(cls, value: str) -> str:
        if value not in ONLINE_JUDGES:
            raise ValueError(f"must be one of the judges online evaluation runs: {', '.join(ONLINE_JUDGES)}")
        return value

    @model_validator(mode="after")
    def _tool_failure_pair(self) -> Alerts:
        if (self.tool_failure_rate_percent is None) != (self.tool_failure_min_calls is None):
            raise ValueError("tool_failure_rate_percent and tool_failure_min_calls go together: set both")
        return self


class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    prices_per_1k_tokens: dict[str, Price] = Field(description="Per model or deployment name")
    alerts: Alerts

    @model_validator(mode="after")
    def _cost_model_is_priced(self) -> MonitoringConfig:
        if self.alerts.cost_model not in self.prices_per_1k_tokens:
            raise ValueError(
                f"alerts.cost_model {self.alerts.cost_model!r} has no entry in prices_per_1k_tokens"
            )
        return self

    def cost(self, model: str, kind: str, tokens: int) -> float:
        price = self.prices_per_1k_tokens.get(model)
        return 0.0 if price is None else tokens / 1000 * getattr(price, kind)


def load_config(path: Path = CONFIG_FILE) -> MonitoringConfig:
    try:
        return MonitoringConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise MonitoringConfigError(f"{path}: {error}") from error
    except yaml.YAMLError as error:
        raise MonitoringConfigError(f"{path}: not valid YAML: {yaml_reason(error)}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise MonitoringConfigError(f"{path}: {problems}") from error


def arm_parameters(config: MonitoringConfig) -> str:
    """The ARM parameters file for monitoring/alerts.json: every threshold, from the config."""
    alerts, price = config.alerts, config.prices_per_1k_tokens[config.alerts.cost_model]
    values = {  # ARM has no float type: numbers travel as strings, read back with json()
        "serverErrorRatePercent": alerts.server_error_rate_percent,
        "latencyP95Ms": alerts.latency_p95_ms,
        "dailyTokens": alerts.daily_tokens,
        "dailyCost": alerts.daily_cost,
        "inputPricePer1k": price.input,
        "outputPricePer1k": price.output,
        "onlineScoreMin": alerts.online_score_min,
        "onlineScoreMetric": alerts.online_score_metric,
    }
    if alerts.tool_failure_rate_percent is not None:  # an agent project's tool-failure alert
        values["toolFailureRatePercent"] = alerts.tool_failure_rate_percent
        values["toolFailureMinCalls"] = alerts.tool_failure_min_calls
    document = {
        "$schema": ARM_PARAMETERS_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {name: {"value": str(value)} for name, value in values.items()},
    }
    return json.dumps(document, indent=2) + "\n"

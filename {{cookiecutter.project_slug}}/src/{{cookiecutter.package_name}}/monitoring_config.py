"""monitoring/config.yaml: token prices and every alert threshold, in one validated file.

`monitor summary` prices tokens with it; `make monitoring-params` turns the thresholds into the
parameters file the alert-rule template is deployed with, so no threshold is written twice.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_FILE = Path("monitoring") / "config.yaml"


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
    online_score_metric: str = Field(description="Which judge metric the score-drop alert watches")


class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    prices_per_1k_tokens: dict[str, Price] = Field(description="Per model or deployment name")
    alerts: Alerts

    def cost(self, model: str, kind: str, tokens: int) -> float:
        price = self.prices_per_1k_tokens.get(model)
        return 0.0 if price is None else tokens / 1000 * getattr(price, kind)


def load_config(path: Path = CONFIG_FILE) -> MonitoringConfig:
    try:
        return MonitoringConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise MonitoringConfigError(f"{path}: {problems}") from error

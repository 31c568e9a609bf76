"""The system card: one markdown page per release for the people who use, review or audit the
assistant. Intended use, out-of-scope use, the data it was evaluated on, the results per dataset
against the gate's thresholds, known limitations, the owner and the release's identity.

Everything is read from the release record, the run's results.json, the datasets the record names
and the project's answers; nothing is typed in. The same inputs give the same card, byte for byte:
the only time on it is the record's own `created`. Each of those values is shown as typed
(terminal.markdown_inline, `md` here): none can add a line, leave its table cell, link or embed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiops_platform import jsonl, paths, project, release
from aiops_platform.experiment import GateConfig
from aiops_platform.gate import limit_for
from aiops_platform.terminal import markdown_inline as md

CARD = "system_card.md"  # next to release.json, results.json and the reports
NOT_ON_RECORD = "not on record (no governance.yaml)"
FLOW_KINDS = {
    "qa": "questions answered from a context the caller supplies",
    "chat": "a conversation with history, grounded in a context the caller supplies",
    "rag": "questions answered from passages retrieved from the project's documents",
    "agent": "questions answered by a model that calls the project's own tools (Agent Framework)",
}
# What the safety set's refused categories mean, for a reader who never saw the set.
REFUSED = {
    "direct_injection": "instructions that try to override its own (prompt injection)",
    "indirect_injection": "instructions hidden in the context or documents it is given",
    "jailbreak": "role play or 'no rules' personas meant to get around its instructions",
    "system_prompt_extraction": "revealing its system prompt or hidden instructions",
    "personal_data": "personal data about individuals",
    "out_of_scope": "requests outside the use case described above",
}
NOT_FOR = (
    "Decisions without a qualified person's review: an answer is a draft to check against its source.",
    "Questions the supplied context or documents do not answer: it is built to say so, not to guess.",
    "Legal, medical or regulatory advice, or anything an approved procedure must decide.",
    "Other use cases, data or languages than those evaluated below: their scores do not carry over.",
)
SAFETY_DATA = paths.FLOWS / "eval_safety" / "safety.jsonl"  # the shipped set, when the run did not use it


def record_folder(path: Path) -> Path:
    """The results folder of a record given as its file or its folder."""
    return path if path.is_dir() else path.parent


def render(record: release.ReleaseRecord, results: dict[str, Any], root: Path) -> str:
    """The card of `record`; `results` is the run's results.json ({} when it is gone), `root` the
    project the record's data paths are relative to."""
    answers = project.load(root)
    # What the record agreed; else governance.yaml now; neither in a project from before the file.
    policy = record.agreed or release.agreed(root)
    use_case, owner, classification = (
        (policy.use_case, policy.owner, policy.data_classification) if policy else (NOT_ON_RECORD,) * 3
    )
    lines = [f"# System card: {md(answers.name)}", ""]
    lines += [
        f"Use case {md(use_case, code=True)} · owner {md(owner)} · {md(record.kind)} record of "
        f"{md(record.created)}",
        "",
        f"Data classification: {md(classification)}",
        "",
    ]
    lines += _intended_use(record, results, answers)
    lines += _out_of_scope(record, root)
    lines += _data_used(record, root)
    lines += _evaluation(record)
    lines += _limitations(record, results, root)
    lines += _governance(record)
    lines += ["## Owner", "", f"{md(owner)}: questions, incidents and changes to this assistant.", ""]
    lines += _identity(record)
    return "\n".join(lines).rstrip("\n") + "\n"


def write(record_path: Path, root: Path | None = None) -> Path:
    """(Re)write the card next to the record at `record_path` (its file or folder): `system_card.md`
    for a run's record, `system_card-<environment>.md` for a deployment's `release-<environment>.json`."""
    folder = record_folder(record_path)
    record = release.read(record_path)
    project = root or paths.root(folder)
    run_results = record.evaluation.results if record.evaluation else "results.json"
    results = {}
    for candidate in (folder / "results.json", project / run_results):  # a deployment's is the run's
        try:
            results = json.loads(candidate.read_text(encoding="utf-8"))
            break
        except (OSError, ValueError):
            continue
    target = folder / (f"system_card-{record.deployment.environment}.md" if record.deployment else CARD)
    target.write_text(render(record, results, project), encoding="utf-8")
    return target


def _intended_use(
    record: release.ReleaseRecord, results: dict[str, Any], answers: project.Project
) -> list[str]:
    model = record.model
    api = f", API version {md(model.api_version)}" if model.api_version else ""
    where = "" if model.endpoint == model.provider else f" at {md(model.endpoint)}"
    runs = sorted({f"{s.flow}/{s.variant}" for s in record.evaluation.scores}) if record.evaluation else []
    lines = [
        "## Intended use",
        "",
        md(answers.description),
        "",
        f"- Flow: `{answers.flow_kind}`, {FLOW_KINDS[answers.flow_kind]}",
        f"- Model: {md(model.provider)} {md(model.model, code=True)}{where}{api}",
    ]
    if runs:
        lines.append(f"- Evaluated flow variants: {', '.join(md(run, code=True) for run in runs)}")
    if results.get("experiment"):
        lines.append(f"- Experiment: {md(results['experiment'], code=True)}")
    return [*lines, ""]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """The object lines of a JSON Lines file; [] when it cannot be read (bad lines are left out)."""
    try:
        read = [line.value for line in jsonl.lines(path) if line.error is None]
    except OSError:
        return []
    return [value for value in read if isinstance(value, dict)]


def _refused_categories(record: release.ReleaseRecord, root: Path) -> list[str]:
    """Categories of the safety set's lines the assistant must refuse: from the datasets the run used,
    else from the project's shipped safety set."""
    sources = [root / item.path for item in record.data]
    rows = [row for source in sources for row in _jsonl(source) if "expect" in row]
    if not rows:
        rows = _jsonl(root / SAFETY_DATA)
    refused = [str(row["category"]) for row in rows if row.get("expect") == "refuse" and "category" in row]
    return list(dict.fromkeys(refused))


def _out_of_scope(record: release.ReleaseRecord, root: Path) -> list[str]:
    lines = ["## Out-of-scope use", "", "Not for:", ""]
    lines += [f"- {item}" for item in NOT_FOR]
    refused = _refused_categories(record, root)
    if refused:
        lines += ["", "It must refuse (each category is in its safety evaluation set):", ""]
        meanings = {name: REFUSED.get(name, name.replace("_", " ")) for name in refused}
        lines += [f"- {md(name, code=True)}: {md(meaning)}" for name, meaning in meanings.items()]
    return [*lines, ""]


def _line_count(path: Path) -> int | None:
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except OSError:
        return None


def _data_used(record: release.ReleaseRecord, root: Path) -> list[str]:
    lines = ["## Data used", ""]
    if not record.data:
        return [*lines, "No dataset.", ""]
    lines += ["| dataset | version | lines | sha256 | path |", "|---|---|---:|---|---|"]
    for item in record.data:
        count = _line_count(root / item.path)
        lines.append(
            f"| {md(item.dataset)} | {md(item.asset or 'unregistered')} | "
            f"{'—' if count is None else count} | {md(item.sha256, code=True)} | {md(item.path)} |"
        )
    return [*lines, ""]


def _evaluation(record: release.ReleaseRecord) -> list[str]:
    lines = ["## Evaluation results", ""]
    if record.evaluation is None:
        return [*lines, "Not evaluated.", ""]
    gate = record.evaluation.gate
    config = GateConfig(thresholds=gate.thresholds, maximums=gate.maximums, tolerance=gate.tolerance)
    verdict = "passed" if gate.passed else f"failed ({len(gate.failures)} finding(s))"
    enforced = "" if gate.enforced else " (not enforced: run without --gate)"
    rule = "at least its threshold" + (" (≥), or at most its maximum (≤)" if gate.maximums else "")
    lines += [f"Gate: **{verdict}**{enforced}. A metric passes when its value is {rule}.", ""]
    lines += [f"- FAIL: {md(finding)}" for finding in gate.failures]
    if gate.failures:
        lines.append("")
    datasets = list(dict.fromkeys(score.dataset for score in record.evaluation.scores))
    for dataset in datasets:
        lines += [f"### {md(dataset)}", "", "| metric | flow/variant | value | threshold | result |"]
        lines.append("|---|---|---:|---:|---|")
        for score in record.evaluation.scores:
            if score.dataset != dataset:
                continue
            for metric, value in score.metrics.items():
                limit = limit_for(config, score.evaluator, metric, dataset)
                result = "—" if limit is None else "pass" if limit.met(value) else "FAIL"
                shown = "—" if limit is None else str(limit)
                lines.append(
                    f"| {md(score.evaluator)}.{md(metric)} | {md(score.flow)}/{md(score.variant)}"
                    f" | {value:.3f} | {shown} | {result} |"
                )
        lines.append("")
    return lines


def _limitations(record: release.ReleaseRecord, results: dict[str, Any], root: Path) -> list[str]:
    found = []
    if record.model.provider == "offline":
        found.append(
            "Evaluated with the offline model (deterministic extraction, no language model): these scores"
            " do not describe an online model; gate a run against the deployed model before relying on them."
        )
    for item in record.data:
        if item.asset is None:
            found.append(
                f"Dataset {md(item.dataset, code=True)} is unregistered: no registered version holds"
                " exactly this content (`make register`)."
            )
    for skipped in results.get("skipped") or []:
        evaluator, reason = md(skipped.get("evaluator"), code=True), md(skipped.get("reason"))
        found.append(f"Evaluator {evaluator} was skipped, not passed: {reason}")
    sizes = [(item.dataset, _line_count(root / item.path)) for item in record.data]
    known = [f"{md(name, code=True)} {count}" for name, count in sizes if count is not None]
    if known:
        found.append(
            f"Evaluation set sizes in lines: {', '.join(known)}. A score is a mean over its dataset's"
            " lines: one line of n moves it by 1/n; other questions may score differently."
        )
    if record.evaluation is not None:
        gate = record.evaluation.gate
        if not gate.passed:
            failed = len(gate.failures)
            found.append(f"The gate failed ({failed} finding(s)): this release must not be deployed.")
        if not gate.thresholds and not gate.maximums:
            found.append("No thresholds are set: nothing here was gated.")
    if record.source.commit is None:
        found.append("Not produced from a git commit: the sources cannot be traced to a version.")
    elif record.source.dirty:
        found.append("Produced from uncommitted changes: the commit alone does not reproduce it.")
    lines = ["## Known limitations", ""]
    lines += [f"- {item}" for item in found] or ["- None recorded."]
    return [*lines, ""]


def _governance(record: release.ReleaseRecord) -> list[str]:
    """What the use case agreed (governance.yaml when the record was made), for the auditor."""
    agreed = record.agreed
    if agreed is None:
        return ["## Governance", "", "- Not on record (the project had no governance.yaml).", ""]
    lines = [
        "## Governance",
        "",
        f"- GxP-relevant: {'yes' if agreed.gxp_relevant else 'no'}",
        f"- Data classification: {md(agreed.data_classification)}",
        f"- Data may live in: {md(agreed.residency)}",
    ]
    for name, policy in agreed.environments.items():
        approvers = md(", ".join(policy.approvers) or "no approval required")
        own = "; nobody approves a deployment they started" if policy.prevent_self_review else ""
        lines.append(f"- Approves {md(name)}: {approvers}{own}")
    return [*lines, ""]


def _identity(record: release.ReleaseRecord) -> list[str]:
    digest = release.record_sha256(record)
    dirty = " (uncommitted changes)" if record.source.dirty else ""
    lines = [
        "## Release",
        "",
        f"- Kind: {md(record.kind)}, created {md(record.created)}",
        f"- Commit: {md(record.source.commit or 'not in git')}{dirty}",
        f"- Template commit: {md(record.source.template_commit or '—')}",
        f"- Record sha256: `{digest}`",
    ]
    if record.deployment:
        deployed = record.deployment
        where = f"{deployed.target} in {deployed.environment} at {deployed.deployed_at}"
        lines.append(f"- Deployed: {md(where)}")
        lines.append(f"- Region: {md(deployed.region or 'not on record')}")
        lines.append(f"- Started by: {md(deployed.approver or 'not on record')}")
        lines.append(f"- Approved by: {md(release.approved_by(deployed))}")
    return [*lines, ""]

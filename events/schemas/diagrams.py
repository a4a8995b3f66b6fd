"""Mermaid diagrams of the registry: who publishes and who consumes, and each saga.

Text only (Mermaid renders in code review and in most Markdown viewers); node ids
are derived from names, so the same registry always gives the same diagram.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .model import SagaSpec
from .registry import Registry


def node(prefix: str, name: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', name)}"


def short(wire_name: str) -> str:
    """``orders.OrderPlaced`` -> ``OrderPlaced`` (the topic is on the edge)."""
    return wire_name.rsplit(".", 1)[-1]


def _label(names: list[str]) -> str:
    return "<br/>".join(short(n) for n in sorted(names))


def flow(registry: Registry) -> str:
    """Apps publish onto topics; subscriptions consume from them. Events are solid
    arrows, commands dashed; commands the bus runs in process are not on the log and
    not drawn."""
    live = registry.live()
    published: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for name, entry in live.items():
        spec = entry.spec
        if spec.in_process:
            continue
        for app in spec.producers:
            published[(app, spec.topic, spec.kind)].append(name)
    consumed: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for subscription in registry.subscriptions.values():
        for name in subscription.handles:
            entry = live.get(name)
            if entry is not None and not entry.spec.in_process:
                consumed[(entry.spec.topic, subscription.name, entry.spec.kind)].append(
                    name
                )
    apps = sorted({app for app, _, _ in published})
    topics = sorted({t for _, t, _ in published} | {t for t, _, _ in consumed})
    lines = ["flowchart LR"]
    lines.append('  subgraph publishers["apps publishing"]')
    lines += [f'    {node("app", a)}["{a}"]' for a in apps]
    lines.append("  end")
    lines.append('  subgraph topics["topics of the log"]')
    lines += [f'    {node("topic", t)}[("{t}")]' for t in topics]
    lines.append("  end")
    lines.append('  subgraph consumers["subscriptions"]')
    for subscription in registry.subscriptions.values():
        lines.append(
            f'    {node("sub", subscription.name)}(["{subscription.name}<br/>'
            f'{subscription.role} of {subscription.app}"])'
        )
    lines.append("  end")
    for (app, topic, kind), names in sorted(published.items()):
        arrow = "-->" if kind == "event" else "-.->"
        lines.append(
            f'  {node("app", app)} {arrow}|"{_label(names)}"| {node("topic", topic)}'
        )
    for (topic, subscription, kind), names in sorted(consumed.items()):
        arrow = "-->" if kind == "event" else "-.->"
        lines.append(
            f'  {node("topic", topic)} {arrow}|"{_label(names)}"| '
            f"{node('sub', subscription)}"
        )
    return "\n".join(lines)


def saga(spec: SagaSpec, registry: Registry) -> str:
    """The saga's steps forward, and how each failure, missed deadline and
    cancellation is undone, in reverse order, one confirmed undo at a time."""

    def handler(command: str) -> str:
        entry = registry.messages.get(command)
        accepted = entry.spec.accepted_by if entry else ()
        return f" to {', '.join(accepted)}" if accepted else ""

    steps = spec.steps
    lines = ["flowchart TD"]
    lines.append(
        f'  start(["{short(spec.started_by)} starts {spec.name}<br/>'
        f'correlated on {spec.correlate_on}"])'
    )
    for i, step in enumerate(steps):
        lines.append(
            f'  s{i}["{i + 1}. {short(step.send)}{handler(step.send)}<br/>'
            f'answer within {_duration(step.within_seconds)}"]'
        )
        if step.undo:
            lines.append(
                f'  u{i}["undo {i + 1}: {short(step.undo)}{handler(step.undo)}"]'
            )
    closing = f": {short(spec.on_completed)}" if spec.on_completed else ""
    lines.append(f'  completed(["completed{closing}"])')
    undo_end = f": {short(spec.on_compensated)}" if spec.on_compensated else ""
    if spec.cancelled_by and spec.on_compensated:
        undo_end += "<br/>(not sent after a cancellation)"
    lines.append(f'  compensated(["compensated{undo_end}"])')
    lines.append('  attention(["needs_attention: staff retry or resolve"])')

    def undo_from(index: int) -> str:
        """The node undoing step ``index`` or the nearest earlier step with an undo."""
        while index >= 0 and steps[index].undo is None:
            index -= 1
        return f"u{index}" if index >= 0 else "compensated"

    lines.append("  start --> s0" if steps else "  start --> completed")
    for i, step in enumerate(steps):
        after = f"s{i + 1}" if i + 1 < len(steps) else "completed"
        lines.append(f'  s{i} -->|"{short(step.done)}"| {after}')
        if step.failed:
            failed = " or ".join(short(f) for f in step.failed)
            lines.append(f'  s{i} -->|"{failed}"| {undo_from(i - 1)}')
        cancelled = f" or {short(spec.cancelled_by)}" if spec.cancelled_by else ""
        lines.append(f'  s{i} -.->|"no answer in time{cancelled}"| {undo_from(i)}')
        if step.undo:
            confirmed = short(step.undone) if step.undone else "sent"
            lines.append(f'  u{i} -->|"{confirmed}"| {undo_from(i - 1)}')
            lines.append(f'  u{i} -.->|"not confirmed in time"| attention')
    if spec.cancelled_by and steps:
        lines.append(
            f'  completed -.->|"{short(spec.cancelled_by)}"| '
            f"{undo_from(len(steps) - 1)}"
        )
    return "\n".join(lines)


def _duration(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"

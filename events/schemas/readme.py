"""``docs/events/README.md``: the registry for people. Topics and messages in tables, a
Mermaid diagram of who publishes and who consumes, and one per declared saga."""

from __future__ import annotations

from .diagrams import flow, saga, short
from .model import MessageSpec, SagaSpec
from .registry import Registry, schema_path


def render(registry: Registry) -> str:
    sections = (_topics, _messages, _flow, _subscriptions, _sagas)
    out = [line for section in sections for line in section(registry)]
    return "\n".join(out) + "\n"


def _topics(registry: Registry) -> list[str]:
    live = registry.live()
    out = [
        "# Event catalog",
        "",
        "Generated from the code's registries by `manage.py events schemas export` "
        "(`make schemas`): do not edit by hand; `make test` fails when it is out of "
        "date. The same data is in [index.json](index.json) (the committed registry "
        "that `manage.py events schemas check` compares the code with), one JSON "
        "Schema per message type and version under [schemas/](schemas/), and the "
        "AsyncAPI 3.0 document [../asyncapi.yaml](../asyncapi.yaml). Staff see it "
        "with live figures in the admin: Event platform, *Event catalog*.",
        "",
        "## Topics",
        "",
        "| topic | partition keys | events | commands | published by | consumed by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for topic in registry.topics():
        specs = [e.spec for e in live.values() if e.spec.topic == topic]
        keys = sorted({s.key for s in specs})
        events = sum(1 for s in specs if s.kind == "event")
        commands = len(specs) - events
        publishers = sorted({p for s in specs if not s.in_process for p in s.producers})
        consumers = sorted(
            sub.name
            for sub in registry.subscriptions.values()
            if any(live.get(n) and live[n].spec.topic == topic for n in sub.handles)
        )
        out.append(
            f"| `{topic}` | {_codes(keys)} | {events} | {commands} | "
            f"{', '.join(publishers) or '-'} | {_codes(consumers)} |"
        )
    return out


def _messages(registry: Registry) -> list[str]:
    out = [
        "",
        "## Messages",
        "",
        "Events are published by the app that declares them; commands are accepted "
        "by one app and sent by the sagas named (a command without a sender here is "
        "sent by code the registries cannot see, such as an admin action). *In "
        "process*: run by `events.bus.execute`, never written to the log.",
        "",
        "| message | kind | version | topic | key | from | to | schema |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in sorted(registry.live().items()):
        spec = entry.spec
        versions = ", ".join(
            f"[v{v}]({schema_path(name, v).relative_to('events').as_posix()})"
            for v in entry.versions
        )
        out.append(
            f"| `{name}` | {_kind(spec)} | {spec.version} | `{spec.topic}` | "
            f"`{spec.key}` | {_sender(spec)} | {_receivers(spec)} | {versions} |"
        )
    retired = sorted(n for n, e in registry.messages.items() if e.retired)
    if retired:
        out += ["", f"Retired wire names (never reused): {_codes(retired)}."]
    return out


def _flow(registry: Registry) -> list[str]:
    return [
        "",
        "## Who publishes and who consumes",
        "",
        "Apps publish onto the topics of the log; each subscription (a consumer group "
        "with a checkpoint per partition) consumes the types it handles. Solid arrows "
        "carry events, dashed ones commands.",
        "",
        "```mermaid",
        flow(registry),
        "```",
    ]


def _subscriptions(registry: Registry) -> list[str]:
    out = [
        "",
        "## Subscriptions",
        "",
        "| subscription | app | role | topics | handles |",
        "| --- | --- | --- | --- | --- |",
    ]
    for sub in registry.subscriptions.values():
        handled = ", ".join(short(n) for n in sub.handles) or "-"
        out.append(
            f"| `{sub.name}` | {sub.app} | {sub.role} | {_codes(list(sub.topics))} "
            f"| {handled} |"
        )
    return out


def _sagas(registry: Registry) -> list[str]:
    out = ["", "## Sagas"]
    if not registry.sagas:
        out += ["", "No saga is declared."]
    for spec in registry.sagas.values():
        out += [
            "",
            f"### {spec.name}",
            "",
            f"Declared by {spec.app}; started by `{spec.started_by}`, correlated on "
            f"`{spec.correlate_on}`. Steps: {_steps(spec)}. A failed step undoes the "
            "finished ones in reverse order, one confirmed undo at a time; a step "
            "with no answer by its deadline is undone with them; an undo not "
            "confirmed in time leaves the saga `needs_attention` for staff."
            + (
                f" `{spec.cancelled_by}` calls it off: every step done or in flight "
                "is undone."
                if spec.cancelled_by
                else ""
            ),
            "",
            "```mermaid",
            saga(spec, registry),
            "```",
        ]
    return out


def _steps(spec: SagaSpec) -> str:
    return "; ".join(
        f"{i}. {short(s.send)} (done: {short(s.done)}"
        + (f", failed: {', '.join(short(f) for f in s.failed)}" if s.failed else "")
        + (f", undo: {short(s.undo)}" if s.undo else "")
        + ")"
        for i, s in enumerate(spec.steps, start=1)
    )


def _codes(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "-"


def _kind(spec: MessageSpec) -> str:
    if spec.kind == "command" and spec.in_process:
        return "command (in process)"
    return spec.kind


def _sender(spec: MessageSpec) -> str:
    if spec.kind == "event":
        return spec.declared_by
    return ", ".join(spec.producers) or "-"


def _receivers(spec: MessageSpec) -> str:
    if spec.kind == "command":
        accepted = ", ".join(spec.accepted_by) or "-"
        via = f" (`{'`, `'.join(spec.consumers)}`)" if spec.consumers else ""
        return accepted + via
    return _codes(list(spec.consumers))

"""The AsyncAPI 3.0 document of the registry (``docs/asyncapi.yaml``).

A channel per topic, with its partition keys; a message per type and version kept in
the registry (its payload schema, and the envelope's ``type`` and ``version`` as
header constants); a ``send`` operation per publishing app and topic, and a
``receive`` operation per consuming subscription and topic. Commands executed in
process by the bus never travel on the log: they are in ``components`` only, so the
document lists every message without claiming a channel carries them.

The payload schemas are pydantic's, with their ``$defs`` moved to
``components/schemas`` (a ``$ref`` in an AsyncAPI document resolves against the whole
document, not the payload), shared when two types define the same value type.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any, cast

import yaml

from .model import MessageSpec, Schema
from .registry import Entry, Registry

ENVELOPE: Schema = {
    "type": "object",
    "description": "The envelope of a message in the log (events.messages.Envelope).",
    "properties": {
        "message_id": {"type": "string", "format": "uuid"},
        "type": {"type": "string", "description": "The wire name."},
        "version": {"type": "integer", "minimum": 1},
        "topic": {"type": "string"},
        "key": {
            "type": "string",
            "description": "The value of the message's key field, as text.",
        },
        "partition": {
            "type": "integer",
            "minimum": 0,
            "description": "crc32(key) mod EVENTS_PARTITIONS.",
        },
        "offset": {
            "type": "integer",
            "minimum": 1,
            "description": "Position in the partition: gap-free, in commit order.",
        },
        "recorded_at": {"type": "string", "format": "date-time"},
        "correlation_id": {"type": "string", "format": "uuid"},
        "causation_id": {
            "anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]
        },
        "stream": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "stream_version": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": [
        "message_id",
        "type",
        "version",
        "topic",
        "key",
        "partition",
        "offset",
        "recorded_at",
        "correlation_id",
    ],
}


def message_id(name: str, version: int) -> str:
    return f"{name}.v{version}"


def document(registry: Registry) -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain data."""
    schemas: dict[str, Schema] = {"Envelope": ENVELOPE}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    on_channel: dict[str, list[str]] = defaultdict(list)
    live = registry.live()
    for name, entry in sorted(live.items()):
        for version in entry.versions:
            mid = message_id(name, version)
            schemas[mid] = _relocate(entry.schemas[version], mid, schemas)
            messages[mid] = _message(entry, version, mid)
            if not entry.spec.in_process:
                on_channel[entry.spec.topic].append(mid)
    for topic in registry.topics():
        keys = sorted({e.spec.key for e in live.values() if e.spec.topic == topic})
        channel: dict[str, Any] = {
            "address": topic,
            "title": f"Topic {topic}",
            "description": (
                f"The {topic} topic of the log. Messages are partitioned by "
                "crc32(key) mod EVENTS_PARTITIONS, the key being the message's "
                f"x-partition-key field ({', '.join(keys)}): one aggregate's "
                "messages stay in one partition, in order."
            ),
            "x-partition-keys": keys,
            "messages": {
                mid: {"$ref": f"#/components/messages/{mid}"}
                for mid in on_channel.get(topic, [])
            },
        }
        channels[topic] = channel
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Event-driven shop: messages",
            "version": _revision(registry),
            "description": (
                "Generated from the code's registries by `manage.py events schemas "
                "export` (make schemas): do not edit. Each message is a JSON payload "
                "in the transactional log, with the envelope as headers; older "
                "versions are upcast on read by the type's from_v<n> steps."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": _operations(registry, on_channel),
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "correlation": {
                    "description": "Shared by everything one request caused.",
                    "location": "$message.header#/correlation_id",
                }
            },
        },
    }


def render(registry: Registry) -> str:
    """The document as YAML (multi-line text as blocks, keys in document order)."""
    return yaml.dump(
        document(registry),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=88,
    )


# -- parts -------------------------------------------------------------------------


def _message(entry: Entry, version: int, mid: str) -> dict[str, Any]:
    spec: MessageSpec = entry.spec
    schema = entry.schemas[version]
    text = schema.get("description", "")
    current = version == spec.version
    who = (
        f"published by {', '.join(spec.producers)}"
        if spec.kind == "event"
        else _command_parties(spec)
    )
    consumers = ", ".join(spec.consumers) or "no subscription"
    description = (
        f"{spec.kind.capitalize()} {spec.type} version {version}"
        f"{'' if current else f' (stored shape; read as v{spec.version})'}: {who}; "
        f"handled by {consumers}."
    )
    if text:
        description += "\n\n" + text
    message: dict[str, Any] = {
        "name": spec.type,
        "title": f"{spec.type} v{version}",
        "summary": (text.split("\n\n")[0].replace("\n", " ") or spec.type),
        "description": description,
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": spec.type},
                        "version": {"const": version},
                        "topic": {"const": spec.topic},
                    },
                },
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{mid}"},
        "correlationId": {"$ref": "#/components/correlationIds/correlation"},
        "tags": [{"name": spec.kind}, {"name": spec.declared_by}],
        "x-version": version,
        "x-partition-key": spec.key,
    }
    return message


def _command_parties(spec: MessageSpec) -> str:
    accepted = ", ".join(spec.accepted_by) or "no app"
    if spec.in_process:
        return f"run in process by the bus (events.bus.execute) of {accepted}"
    sent = ", ".join(spec.producers) or "code not declared as a saga (e.g. staff)"
    return f"sent by {sent}, accepted by {accepted}"


def _operations(registry: Registry, on_channel: dict[str, list[str]]) -> dict[str, Any]:
    live = registry.live()
    operations: dict[str, Any] = {}
    sends: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, entry in sorted(live.items()):
        if entry.spec.in_process:
            continue
        for app in entry.spec.producers:
            sends[(app, entry.spec.topic)].append(message_id(name, entry.spec.version))
    for (app, topic), mids in sorted(sends.items()):
        operations[f"{app}.sends.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "title": f"{app} publishes on {topic}",
            "messages": [
                {"$ref": f"#/channels/{topic}/messages/{mid}"} for mid in mids
            ],
        }
    for subscription in registry.subscriptions.values():
        by_topic: dict[str, list[str]] = defaultdict(list)
        for name in subscription.handles:
            entry = live.get(name)
            if entry is None:
                continue
            # a subscription reads every stored version: the ones on the channel
            for version in entry.versions:
                mid = message_id(name, version)
                if mid in on_channel.get(entry.spec.topic, ()):
                    by_topic[entry.spec.topic].append(mid)
        for topic, mids in sorted(by_topic.items()):
            operations[f"{subscription.name}.receives.{topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic}"},
                "title": f"{subscription.name} ({subscription.role} of "
                f"{subscription.app}) consumes {topic}",
                "messages": [
                    {"$ref": f"#/channels/{topic}/messages/{mid}"} for mid in mids
                ],
            }
    return operations


def _relocate(schema: Schema, mid: str, shared: dict[str, Schema]) -> Schema:
    """The payload schema with its ``$defs`` moved into ``shared`` (components)."""
    defs = schema.get("$defs", {})
    names = {d: d for d in defs}
    for _ in range(len(defs) + 1):  # until no name needs qualifying
        changed = False
        for d, body in defs.items():
            moved = _rewrite(body, names)
            if names[d] in shared and shared[names[d]] != moved:
                if names[d] == d:
                    names[d], changed = f"{mid}.{d}", True
        if not changed:
            break
    for d, body in defs.items():
        shared.setdefault(names[d], _rewrite(body, names))
    payload = {k: v for k, v in schema.items() if k != "$defs"}
    return cast(Schema, _rewrite(payload, names))  # a dict rewrites to a dict


def _rewrite(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if (
                key == "$ref"
                and isinstance(value, str)
                and value.startswith("#/$defs/")
            ):
                out[key] = f"#/components/schemas/{names[value[len('#/$defs/') :]]}"
            else:
                out[key] = _rewrite(value, names)
        return out
    if isinstance(node, list):
        return [_rewrite(v, names) for v in node]
    return node


def _revision(registry: Registry) -> str:
    """A digest of every kept schema: it changes exactly when a payload does."""
    content = {
        message_id(n, v): e.schemas[v]
        for n, e in registry.live().items()
        for v in e.versions
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"registry-{digest[:12]}"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks; no anchors (every node written out)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)

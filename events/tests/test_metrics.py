"""Prometheus metrics read from the database: lag, dead letters, sagas by status (the
needs-intervention alert's metric), and the scraper's token."""

from django.db import transaction

import pytest

from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import SagaInstance

from .support.messages import ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client, **headers):
    response = client.get("/metrics", headers=headers)
    return response.status_code, response.content.decode()


def test_lag_dead_letters_and_sagas_needing_a_person_are_exposed(client, parked):
    # given a parked dead letter (subscription "cli"), a message "cli" has not handled
    # yet, and a saga that needs a person
    with transaction.atomic():
        publish(ThingHappened(thing_id="b"))
    SagaInstance.objects.create(
        saga="s.demo",
        key="k1",
        status="needs_attention",
        correlation_id="00000000-0000-0000-0000-000000000001",
    )
    partition = partition_for("b")
    # when scraped
    code, text = scrape(client)
    # then
    assert code == 200
    assert 'events_dead_letters{status="parked",subscription="cli"} 1.0' in text
    assert 'events_sagas{saga="s.demo",status="needs_attention"} 1.0' in text
    lag = f'events_consumer_lag_messages{{partition="{partition}",subscription="cli"}}'
    assert f"{lag} 1.0" in text
    # and once delivered, the lag is gone
    drain(parked_subscription(), partition)
    assert f"{lag} 0.0" in scrape(client)[1]


def parked_subscription():
    from events.delivery.subscriptions import registry

    return registry.get("cli")


def test_a_configured_token_is_required(client, settings):
    settings.EVENTS_METRICS_TOKEN = "s3cret"
    assert scrape(client)[0] == 401
    assert scrape(client, Authorization="Bearer wrong")[0] == 401
    assert scrape(client, Authorization="Bearer s3cret")[0] == 200

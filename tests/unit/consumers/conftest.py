"""A Kafka consumer of Clima pointed at no broker: its logic runs, nothing is fetched."""

from collections.abc import AsyncIterator

import pytest

from clima.consumers import _kafka
from clima.consumers.settings import ConsumerSettings
from clima.store import Store, StoreSettings


@pytest.fixture
async def source() -> AsyncIterator[_kafka.KafkaSource]:
    settings = ConsumerSettings(kafka_broker="127.0.0.1:9", kafka_topic="clima-unit")
    store = Store(StoreSettings(valkey_url="redis://127.0.0.1:9/0"))
    made = _kafka.KafkaSource(settings, store)
    yield made
    await store.close()
    made._dead.purge()
    del made._dead  # its idempotent producer would keep dialling the absent broker

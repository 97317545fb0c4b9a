"""The consumers: take batches from Kafka or RabbitMQ and apply them to Valkey exactly once."""

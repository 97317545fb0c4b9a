"""The writer: makes batches of reports durable in Kafka and/or RabbitMQ, by mode."""

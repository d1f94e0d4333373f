#!/usr/bin/env bash
# LocalStack ready hook (mounted at /etc/localstack/init/ready.d): the queues and the topic of the stack,
# the same as localstack/goaws.yaml. Every queue has a dead-letter queue receiving a message after 5
# failed receives; the order-events topic fans out, with raw message delivery, to one queue per
# consumer. Safe to run again.
set -euo pipefail

queue() {
  local q=$1
  awslocal sqs create-queue --queue-name "${q}-dlq" >/dev/null
  local dlq_url dlq_arn policy attrs
  dlq_url=$(awslocal sqs get-queue-url --queue-name "${q}-dlq" --query QueueUrl --output text)
  dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
  policy="{\"maxReceiveCount\":\"5\",\"deadLetterTargetArn\":\"${dlq_arn}\"}"
  attrs=$(printf '{"RedrivePolicy":%s}' "$(printf '%s' "$policy" | sed 's/"/\\"/g; s/^/"/; s/$/"/')")
  awslocal sqs create-queue --queue-name "$q" --attributes "$attrs" >/dev/null
  echo "queue $q ready (dead letters to ${q}-dlq after 5 receives)"
}

queue order-commands

topic_arn=$(awslocal sns create-topic --name order-events --query TopicArn --output text)
for q in reporting-order-events order-events-tap; do
  queue "$q"
  url=$(awslocal sqs get-queue-url --queue-name "$q" --query QueueUrl --output text)
  arn=$(awslocal sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
  awslocal sns subscribe --topic-arn "$topic_arn" --protocol sqs --notification-endpoint "$arn" \
    --attributes RawMessageDelivery=true >/dev/null
  echo "queue $q subscribed to order-events (raw delivery)"
done

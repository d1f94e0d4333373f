#!/usr/bin/env bash
# LocalStack ready hook (mounted at /etc/localstack/init/ready.d): creates the SQS queues of the stack,
# each with a dead-letter queue receiving a message after 5 failed receives. Safe to run again.
set -euo pipefail

for q in order-commands order-events; do
  awslocal sqs create-queue --queue-name "${q}-dlq" >/dev/null
  dlq_url=$(awslocal sqs get-queue-url --queue-name "${q}-dlq" --query QueueUrl --output text)
  dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
  policy="{\"maxReceiveCount\":\"5\",\"deadLetterTargetArn\":\"${dlq_arn}\"}"
  attrs=$(printf '{"RedrivePolicy":%s}' "$(printf '%s' "$policy" | sed 's/"/\\"/g; s/^/"/; s/$/"/')")
  awslocal sqs create-queue --queue-name "$q" --attributes "$attrs" >/dev/null
  echo "queue $q ready (dead letters to ${q}-dlq after 5 receives)"
done

// Package e2e holds the whole-system tests: the real customers-api, orders-api, orders-worker and
// orchestrator binaries (and the Lambda bootstrap under the AWS Lambda Runtime Interface Emulator),
// driven over HTTP and SQS against throwaway MariaDB databases and a goaws SQS. It holds tests only.
package e2e

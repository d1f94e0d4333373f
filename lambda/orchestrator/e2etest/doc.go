// Package e2etest drives create-and-confirm end to end: the real customers-api, orders-api, orders-worker
// and orchestrator binaries (and the Lambda bootstrap under the AWS Lambda Runtime Interface Emulator),
// against throwaway MariaDB databases and a goaws SQS. It holds tests only.
package e2etest

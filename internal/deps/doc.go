// Package deps holds the test that enforces the dependency direction of the module (cmd → api →
// domain ← db): domain packages import no SQL, HTTP, AWS, watermill, MySQL or Prometheus package; api packages
// reach storage only through their domain; the HTTP APIs link no AWS SDK. It has no code of its own.
package deps

// Package reporting holds what belongs to the reporting service as a whole: its OpenAPI 3.0 contract.
package reporting

import _ "embed"

// OpenAPI is the OpenAPI 3.0 document of reporting, served at GET /openapi.yaml and checked against
// real responses in the tests.
//
//go:embed openapi.yaml
var OpenAPI []byte

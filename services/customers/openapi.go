// Package customers holds what belongs to customers-api as a whole: its OpenAPI 3.0 contract.
package customers

import _ "embed"

// OpenAPI is the OpenAPI 3.0 document of customers-api, served at GET /openapi.yaml and checked
// against real responses in the tests.
//
//go:embed openapi.yaml
var OpenAPI []byte

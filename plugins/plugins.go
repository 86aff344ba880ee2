// Package plugins registers every trstream component with Benthos. Import it
// for its side effects, as cmd/trstream does.
package plugins

import (
	_ "github.com/trstream/trstream/plugins/generator"
	_ "github.com/trstream/trstream/plugins/lake"
	_ "github.com/trstream/trstream/plugins/linechunks"
	_ "github.com/trstream/trstream/plugins/nooptracer"
	_ "github.com/trstream/trstream/plugins/prometheus"
	_ "github.com/trstream/trstream/plugins/redpanda"
	_ "github.com/trstream/trstream/plugins/validate"
)

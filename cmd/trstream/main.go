// Command trstream is the Benthos CLI with trstream's plugins compiled in,
// plus the subcommands dev, lake, compact, sql, serve and docs.
package main

import (
	"context"
	"runtime/debug"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	// The collector's policy from the start: a heap goal of 64 MiB or
	// more, GOGC 150 above it (GOGC in the environment turns both off),
	// and GOMEMLIMIT at 90% of a container's memory limit.
	_ "github.com/trstream/trstream/internal/gcpolicy"
	_ "github.com/trstream/trstream/plugins"
)

func main() {
	opts := []service.CLIOptFunc{
		service.CLIOptSetBinaryName("trstream"),
		service.CLIOptSetProductName("trstream"),
		service.CLIOptSetVersion(version()),
		service.CLIOptSetDocumentationURL("https://github.com/trstream/trstream/tree/main/docs"),
	}
	for _, c := range commands() {
		opts = append(opts, service.CLIOptAddCommand(c))
	}
	service.RunCLI(context.Background(), opts...)
}

// version reads the module version and VCS stamp from the build info, so
// `go install` and `go build` binaries both report something true.
func version() (v, built string) {
	v, built = "dev", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if v == "dev" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		case "vcs.time":
			built = s.Value
		}
	}
	return
}

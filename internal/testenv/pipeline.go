package testenv

import (
	"os"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// PipelineStream builds a stream from a pipeline file of pipelines/, with
// env overriding the process environment, as `trstream -c FILE` would run
// it (the file's http server stays off, as in every stream builder).
//
// The stream is stopped when the test ends: Stream.Run returns on its
// context's cancellation without stopping the stream, whose output would
// go on writing into the test's directories after they are removed.
func PipelineStream(t testing.TB, file string, env map[string]string) *service.Stream {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sb := service.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err := sb.SetYAML(string(b)); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := sb.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	s, err := sb.Build()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	t.Cleanup(func() { _ = s.StopWithin(10 * time.Second) })
	return s
}

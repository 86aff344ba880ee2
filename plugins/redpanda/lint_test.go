package redpanda

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/trstream/trstream/plugins/linechunks" // the produce benchmark's scanner
)

// lintConfig runs the linter of `trstream lint` (the global environment's
// full stream schema) over a whole config file and returns its lint errors.
func lintConfig(t *testing.T, yaml string) []string {
	t.Helper()
	linter := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter()
	lints, err := linter.LintYAML([]byte(yaml))
	require.NoError(t, err)
	var out []string
	for _, l := range lints {
		out = append(out, l.Error())
	}
	return out
}

// TestLintFullConfig: bad redpanda configs fail at lint time (not only when
// the component is built) with a lint error that names the field.
func TestLintFullConfig(t *testing.T) {
	input := func(body string) string {
		return "input:\n  redpanda:\n" + indent(indent(body)) + "output:\n  drop: {}\n"
	}
	output := func(body string) string {
		return "input:\n  generate:\n    mapping: 'root = \"x\"'\noutput:\n  redpanda:\n" + indent(indent(body))
	}
	tests := []struct {
		name string
		conf string
		want string // substring of a lint error; empty: no lint errors
	}{
		{"input valid", input("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nconsumer_group: cg\nsasl:\n  - mechanism: SCRAM-SHA-256\n    username: u\n    password: p\n"), ""},
		{"output valid", output("seed_brokers: [ 'a:9092,b:9092' ]\ntopic: foo\nsasl:\n  - mechanism: PLAIN\n"), ""},
		// Connect's connection and fetch fields carry over.
		{"input connect fields", input("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nmetadata_max_age: 1m\nrequest_timeout_overhead: 10s\nconn_idle_timeout: 20s\nfetch_min_bytes: 1B\ntransaction_isolation_level: read_committed\n"), ""},
		{"output connect fields", output("seed_brokers: [ localhost:9092 ]\ntopic: foo\nmetadata_max_age: 1m\nbroker_write_max_bytes: 100MB\nallow_auto_topic_creation: true\n"), ""},
		{"input regexp include instead of topics", input("seed_brokers: [ localhost:9092 ]\nregexp_topics_include: [ 'orders\\..*' ]\nregexp_topics_exclude: [ '\\.dlq$' ]\n"), ""},
		{"input neither topics nor include", input("seed_brokers: [ localhost:9092 ]\nconsumer_group: cg\n"), "field topics: a list of topics, or field regexp_topics_include, is required"},
		{"input unknown isolation level", input("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\ntransaction_isolation_level: snapshot\n"), "field transaction_isolation_level: value snapshot is not a valid option"},

		{"input unknown field", input("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nconsumer_grup: cg\n"), "field consumer_grup not recognised"},
		{"output unknown field", output("seed_brokers: [ localhost:9092 ]\ntopic: foo\nlingr: 1ms\n"), "field lingr not recognised"},

		{"input seed_brokers missing", input("topics: [ foo ]\n"), "field seed_brokers: at least one broker address is required"},
		{"input seed_brokers empty", input("seed_brokers: []\ntopics: [ foo ]\n"), "field seed_brokers: at least one broker address is required"},
		{"input seed_brokers blank", input("seed_brokers: [ '', ' , ' ]\ntopics: [ foo ]\n"), "field seed_brokers: at least one broker address is required"},
		{"output seed_brokers missing", output("topic: foo\n"), "field seed_brokers: at least one broker address is required"},
		{"output seed_brokers empty", output("seed_brokers: []\ntopic: foo\n"), "field seed_brokers: at least one broker address is required"},

		{"input unknown sasl mechanism", input("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nsasl:\n  - mechanism: KERBEROS\n    username: u\n"), "field sasl[].mechanism: value KERBEROS is not a valid option"},
		{"output unknown sasl mechanism", output("seed_brokers: [ localhost:9092 ]\ntopic: foo\nsasl:\n  - mechanism: OAUTHBEARER\n"), "field sasl[].mechanism: value OAUTHBEARER is not a valid option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lints := lintConfig(t, tt.conf)
			if tt.want == "" {
				require.Empty(t, lints, "config:\n%s", tt.conf)
				return
			}
			require.NotEmpty(t, lints, "config should fail lint:\n%s", tt.conf)
			require.Contains(t, strings.Join(lints, "\n"), tt.want, "config:\n%s", tt.conf)
		})
	}
}

// TestLintBenchConfigs: the shipped benchmark configs lint clean.
func TestLintBenchConfigs(t *testing.T) {
	for _, f := range []string{"redpanda_produce.yaml", "redpanda_consume.yaml"} {
		b, err := os.ReadFile("../../bench/configs/" + f)
		require.NoError(t, err)
		t.Setenv("BENCH_BROKERS", "127.0.0.1:9092")
		t.Setenv("BENCH_TOPIC", "t")
		t.Setenv("BENCH_FILE", "/dev/null")
		require.Empty(t, lintConfig(t, string(b)), fmt.Sprintf("bench/configs/%s", f))
	}
}

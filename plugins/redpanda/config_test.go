package redpanda

import (
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// buildComponent lints the YAML like a real config load does, then parses it
// with the component's spec and runs its constructor.
func buildComponent(kind, yaml string) error {
	sb := service.NewStreamBuilder()
	var spec *service.ConfigSpec
	var err error
	switch kind {
	case "input":
		spec = redpandaInputConfigSpec()
		err = sb.AddInputYAML("redpanda:\n" + indent(yaml))
	default:
		spec = redpandaOutputConfigSpec()
		err = sb.AddOutputYAML("redpanda:\n" + indent(yaml))
	}
	if err != nil {
		return err
	}
	conf, err := spec.ParseYAML(yaml, nil)
	if err != nil {
		return err
	}
	res := service.MockResources()
	if kind == "input" {
		_, err = newRedpandaReaderFromConfig(conf, res)
	} else {
		_, err = newRedpandaWriterFromConfig(conf, res)
	}
	return err
}

func indent(s string) string {
	out := ""
	for _, l := range splitLines(s) {
		out += "  " + l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		yaml    string
		wantErr string // substring; empty means valid
	}{
		{
			name: "input minimal",
			kind: "input",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\n",
		},
		{
			name: "input comma separated brokers and partitions",
			kind: "input",
			yaml: "seed_brokers: [ 'a:9092,b:9092' ]\ntopics: [ 'foo:0,foo:2-4' ]\n",
		},
		{
			name:    "input unknown field",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nnot_a_field: 1\n",
			wantErr: "not_a_field",
		},
		{
			name:    "input no brokers",
			kind:    "input",
			yaml:    "seed_brokers: []\ntopics: [ foo ]\n",
			wantErr: "seed_brokers",
		},
		{
			name:    "input blank broker",
			kind:    "input",
			yaml:    "seed_brokers: [ ' , ' ]\ntopics: [ foo ]\n",
			wantErr: "seed_brokers",
		},
		{
			name:    "input unknown sasl mechanism",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nsasl:\n  - mechanism: KERBEROS\n    username: u\n    password: p\n",
			wantErr: "mechanism",
		},
		{
			name: "input static membership and checkpoint limit",
			kind: "input",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nconsumer_group: cg\ninstance_id: member-1\ncheckpoint_limit: 1024\n",
		},
		{
			name:    "input instance_id without consumer group",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\ninstance_id: member-1\n",
			wantErr: "instance_id",
		},
		{
			name:    "input negative checkpoint limit",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\ncheckpoint_limit: -1\n",
			wantErr: "checkpoint_limit",
		},
		{
			name:    "input partition with consumer group",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ 'foo:1' ]\nconsumer_group: cg\n",
			wantErr: "topics",
		},
		{
			name:    "input bad partition range",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ 'foo:5-1' ]\n",
			wantErr: "topics",
		},
		{
			name:    "input committed without group",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nstart_offset: committed\n",
			wantErr: "start_offset",
		},
		{
			name:    "input unknown start offset",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nstart_offset: middle\n",
			wantErr: "start_offset",
		},
		{
			name:    "input bad fetch size",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nfetch_max_bytes: lots\n",
			wantErr: "fetch_max_bytes",
		},
		{
			name:    "input metadata max age above franz-go's bound",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nmetadata_max_age: 2h\n",
			wantErr: "field metadata_max_age: 2h0m0s is out of range",
		},
		{
			name:    "input request timeout overhead too short",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nrequest_timeout_overhead: 10ms\n",
			wantErr: "field request_timeout_overhead",
		},
		{
			name:    "input fetch min bytes above fetch max bytes",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nfetch_max_bytes: 1MiB\nfetch_min_bytes: 2MiB\n",
			wantErr: "field fetch_min_bytes",
		},
		{
			name:    "input fetch min bytes zero",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nfetch_min_bytes: 0\n",
			wantErr: "field fetch_min_bytes",
		},
		{
			name:    "input unknown isolation level",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\ntransaction_isolation_level: serializable\n",
			wantErr: "field transaction_isolation_level: value serializable is not a valid option",
		},
		{
			name: "input regexp include and exclude",
			kind: "input",
			yaml: "seed_brokers: [ localhost:9092 ]\nregexp_topics_include: [ 'orders\\..*' ]\nregexp_topics_exclude: [ '\\.dlq$' ]\nconsumer_group: cg\n",
		},
		{
			name: "input regexp_topics with exclude",
			kind: "input",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopics: [ 'orders.*' ]\nregexp_topics: true\nregexp_topics_exclude: [ '\\.dlq$' ]\n",
		},
		{
			name:    "input regexp include with topics",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nregexp_topics_include: [ 'orders.*' ]\n",
			wantErr: "field regexp_topics_include cannot be used with field topics",
		},
		{
			name:    "input regexp exclude alone",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\nregexp_topics_exclude: [ bar ]\n",
			wantErr: "field regexp_topics_exclude requires field regexp_topics_include",
		},
		{
			name:    "input invalid include pattern",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\nregexp_topics_include: [ 'orders[' ]\n",
			wantErr: "field regexp_topics_include: invalid regular expression",
		},
		{
			name:    "input no topics at all",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\n",
			wantErr: "field topics: a list of topics, or field regexp_topics_include, is required",
		},
		{
			name:    "input negative keep-alive idle",
			kind:    "input",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\ntcp:\n  keep_alive:\n    idle: -1s\n",
			wantErr: "field tcp.keep_alive.idle: must not be negative",
		},
		{
			name:    "output negative tcp user timeout",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\ntcp:\n  tcp_user_timeout: -5s\n",
			wantErr: "field tcp.tcp_user_timeout",
		},
		{
			name: "output minimal",
			kind: "output",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopic: foo\n",
		},
		{
			name: "output full",
			kind: "output",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopic: ${! meta(\"t\") }\nkey: ${! json(\"id\") }\npartitioner: manual\npartition: '0'\ncompression: zstd\nsasl:\n  - mechanism: SCRAM-SHA-512\n    username: u\n    password: p\nmetadata:\n  include_prefixes: [ x_ ]\n",
		},
		{
			name:    "output unknown field",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\nnope: true\n",
			wantErr: "nope",
		},
		{
			name:    "output no brokers",
			kind:    "output",
			yaml:    "seed_brokers: []\ntopic: foo\n",
			wantErr: "seed_brokers",
		},
		{
			name:    "output unknown sasl mechanism",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\nsasl:\n  - mechanism: OAUTHBEARER\n",
			wantErr: "mechanism",
		},
		{
			name:    "output unknown compression",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\ncompression: brotli\n",
			wantErr: "compression",
		},
		{
			name:    "output conn idle timeout too long",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\nconn_idle_timeout: 1h\n",
			wantErr: "field conn_idle_timeout",
		},
		{
			name:    "output broker write max below max message bytes",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\nmax_message_bytes: 2MiB\nbroker_write_max_bytes: 1MiB\n",
			wantErr: "field broker_write_max_bytes: 1048576 is less than field max_message_bytes",
		},
		{
			name:    "output broker write max above 1GiB",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\nbroker_write_max_bytes: 2GiB\n",
			wantErr: "broker_write_max_bytes",
		},
		{
			name:    "output manual partitioner without partition",
			kind:    "output",
			yaml:    "seed_brokers: [ localhost:9092 ]\ntopic: foo\npartitioner: manual\n",
			wantErr: "partition",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := buildComponent(tt.kind, tt.yaml)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// TestConfigSASLMechanismParse checks the constructor rejects an unknown
// mechanism even when linting was skipped.
func TestConfigSASLMechanismParse(t *testing.T) {
	conf, err := redpandaOutputConfigSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: foo\nsasl:\n  - mechanism: GSSAPI\n", nil)
	require.NoError(t, err)
	_, err = newRedpandaWriterFromConfig(conf, service.MockResources())
	require.ErrorContains(t, err, "sasl[0].mechanism")
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int32{
		"32KB": 32000, "50MiB": 50 << 20, "1MB": 1000000, "1mib": 1 << 20, "100": 100, "2 KiB": 2048,
	} {
		got, err := parseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "x", "-1", "5GB", "1.5MB"} {
		_, err := parseBytes(in)
		require.Error(t, err, in)
	}
}

// TestClientOptionsReachFranzGo checks that each connection and fetch field
// ends up as the franz-go option it names, read back from a client built
// with the component's options (the client connects to nothing until used).
func TestClientOptionsReachFranzGo(t *testing.T) {
	const common = "seed_brokers: [ localhost:9092 ]\nmetadata_max_age: 1m\nrequest_timeout_overhead: 3s\nconn_idle_timeout: 45s\n"
	conf, err := redpandaInputConfigSpec().ParseYAML(common+"topics: [ foo ]\nfetch_min_bytes: 64KiB\ntransaction_isolation_level: read_committed\n", nil)
	require.NoError(t, err)
	r, err := newRedpandaReaderFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	conf, err = redpandaOutputConfigSpec().ParseYAML(common+"topic: foo\nbroker_write_max_bytes: 10MiB\nallow_auto_topic_creation: true\n", nil)
	require.NoError(t, err)
	w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
	require.NoError(t, err)

	in, err := kgo.NewClient(r.opts...)
	require.NoError(t, err)
	defer in.Close()
	out, err := kgo.NewClient(w.opts...)
	require.NoError(t, err)
	defer out.Close()

	for name, cl := range map[string]*kgo.Client{"input": in, "output": out} {
		require.Equal(t, time.Minute, cl.OptValue(kgo.MetadataMaxAge), name)
		require.Equal(t, 3*time.Second, cl.OptValue(kgo.RequestTimeoutOverhead), name)
		require.Equal(t, 45*time.Second, cl.OptValue(kgo.ConnIdleTimeout), name)
	}
	require.Equal(t, int32(64<<10), in.OptValue(kgo.FetchMinBytes))
	require.Equal(t, int8(1), in.OptValue(kgo.FetchIsolationLevel)) // read_committed on the wire
	require.Equal(t, int32(10<<20), out.OptValue(kgo.BrokerMaxWriteBytes))
	require.Equal(t, true, out.OptValue(kgo.AllowAutoTopicCreation))

	// The defaults are franz-go's own.
	conf, err = redpandaInputConfigSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\n", nil)
	require.NoError(t, err)
	r, err = newRedpandaReaderFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	conf, err = redpandaOutputConfigSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: foo\n", nil)
	require.NoError(t, err)
	w, err = newRedpandaWriterFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	bare, err := kgo.NewClient()
	require.NoError(t, err)
	defer bare.Close()
	for name, c := range map[string]struct {
		opts []kgo.Opt
		want []any
	}{
		"input":  {r.opts, []any{kgo.MetadataMaxAge, kgo.RequestTimeoutOverhead, kgo.ConnIdleTimeout, kgo.FetchMinBytes, kgo.FetchIsolationLevel}},
		"output": {w.opts, []any{kgo.MetadataMaxAge, kgo.RequestTimeoutOverhead, kgo.ConnIdleTimeout, kgo.BrokerMaxWriteBytes, kgo.AllowAutoTopicCreation}},
	} {
		def, err := kgo.NewClient(c.opts...)
		require.NoError(t, err)
		for _, opt := range c.want {
			require.Equal(t, bare.OptValue(opt), def.OptValue(opt), name)
		}
		def.Close()
	}
}

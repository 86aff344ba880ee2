// Package redpanda provides the `redpanda` input and output, Kafka API
// components built on franz-go whose configuration follows Redpanda
// Connect's components of the same name.
package redpanda

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Fields shared by the input and the output.
const (
	fieldSeedBrokers   = "seed_brokers"
	fieldClientID      = "client_id"
	fieldTLS           = "tls"
	fieldSASL          = "sasl"
	fieldSASLMechanism = "mechanism"
	fieldSASLUsername  = "username"
	fieldSASLPassword  = "password"

	fieldMetadataMaxAge         = "metadata_max_age"
	fieldRequestTimeoutOverhead = "request_timeout_overhead"
	fieldConnIdleTimeout        = "conn_idle_timeout"

	fieldTCP               = "tcp"
	fieldConnectTimeout    = "connect_timeout"
	fieldKeepAlive         = "keep_alive"
	fieldKeepAliveIdle     = "idle"
	fieldKeepAliveInterval = "interval"
	fieldKeepAliveCount    = "count"
	fieldTCPUserTimeout    = "tcp_user_timeout"
)

// defaultDialTimeout is franz-go's dial timeout, used when connect_timeout
// is 0.
const defaultDialTimeout = 10 * time.Second

// SASL mechanisms we support; anything else is rejected when the config is
// linted (enum field) and again when it is parsed.
const (
	saslPlain       = "PLAIN"
	saslScramSHA256 = "SCRAM-SHA-256"
	saslScramSHA512 = "SCRAM-SHA-512"
)

// clientFields are the connection fields every redpanda component has, built
// once: their lint rules are Bloblang, parsed when a field is built, and the
// input and output specs can share them (a spec copies each field).
var clientFields = sync.OnceValue(func() []*service.ConfigField {
	return []*service.ConfigField{
		service.NewStringListField(fieldSeedBrokers).
			Description("A list of broker addresses to connect to in order to establish connections. If an item of the list contains commas it will be expanded into multiple addresses.").
			Example([]string{"localhost:9092"}).
			Example([]string{"foo:9092", "bar:9092"}).
			Example([]string{"foo:9092,bar:9092"}),
		service.NewStringField(fieldClientID).
			Description("An identifier for the client connection.").
			Default("trstream").
			Advanced(),
		service.NewTLSToggledField(fieldTLS),
		service.NewObjectListField(fieldSASL,
			service.NewStringEnumField(fieldSASLMechanism, saslPlain, saslScramSHA256, saslScramSHA512).
				Description("The SASL mechanism to use.").
				LintRule(enumLintRule(fieldSASL+"[]."+fieldSASLMechanism, saslPlain, saslScramSHA256, saslScramSHA512)),
			service.NewStringField(fieldSASLUsername).
				Description("The username to authenticate with.").
				Default(""),
			service.NewStringField(fieldSASLPassword).
				Description("The password to authenticate with.").
				Default("").
				Secret(),
		).
			Description("Specify one or more methods of SASL authentication. SASL is tried in order; if the broker supports the first mechanism, all connections will use that mechanism. If the first mechanism fails, the client will pick the first supported mechanism. If the broker does not support any client mechanisms, connections will fail.").
			Example([]any{map[string]any{
				fieldSASLMechanism: saslScramSHA512,
				fieldSASLUsername:  "foo",
				fieldSASLPassword:  "bar",
			}}).
			Optional().
			Advanced(),
		service.NewDurationField(fieldMetadataMaxAge).
			Description("The longest the client keeps its cached metadata before refreshing it: how soon it notices new partitions and, with `regexp_topics`, new matching topics. Between 5s and 1h. The default is franz-go's; Redpanda Connect's is 1m.").
			Default("5m").
			Example("1m").
			Advanced(),
		service.NewDurationField(fieldRequestTimeoutOverhead).
			Description("The deadline of a request on its connection, added to the request's own timeout when it has one (a produce's `timeout`, a fetch's `fetch_max_wait`): a broker that stops answering is noticed after it and the connection is closed. Between 100ms and 15m. The default is franz-go's (and Connect's).").
			Default("10s").
			Advanced(),
		service.NewDurationField(fieldConnIdleTimeout).
			Description("How long a connection may stay idle before it is closed; in the worst case one idles twice as long. Between 100ms and 15m. The default is franz-go's; Redpanda Connect's is 20s.").
			Default("30s").
			Advanced(),
		service.NewObjectField(fieldTCP,
			service.NewDurationField(fieldConnectTimeout).
				Description("How long to wait for a connection to a broker to open. 0 means franz-go's 10s.").
				Default("0s"),
			service.NewObjectField(fieldKeepAlive,
				service.NewDurationField(fieldKeepAliveIdle).
					Description("How long a connection is idle before the first keep-alive probe.").
					Default("15s"),
				service.NewDurationField(fieldKeepAliveInterval).
					Description("The time between keep-alive probes.").
					Default("15s"),
				service.NewIntField(fieldKeepAliveCount).
					Description("How many unanswered probes close the connection.").
					Default(9),
			).
				Description("TCP keep-alive probes, which find a broker connection that died silently (a crashed host, a load balancer or NAT that dropped it) and keep idle ones open through middleboxes that close idle flows. The defaults are Go's."),
			service.NewDurationField(fieldTCPUserTimeout).
				Description("How long sent data may stay unacknowledged before the connection is closed (Linux's TCP_USER_TIMEOUT), so that a write to a dead broker fails in that time rather than after the kernel's retransmissions (about 15 minutes). 0 keeps the kernel's behaviour.").
				Default("0s"),
		).
			Description("TCP settings of the connections to the brokers, with Redpanda Connect's field names.").
			Advanced(),
	}
})

// seedBrokersMissing is a Bloblang condition, evaluated on a component's
// config, that holds when seed_brokers is missing or lists no address (empty
// list, or only blank and comma-only entries).
// (Written for a quick parse: each lint rule is parsed at start-up.)
const seedBrokersMissing = `this.seed_brokers.or([]).map_each(s -> s.string()).join(",").re_replace_all("[\\s,]", "") == ""`

// seedBrokersLintMessage is the lint error for seedBrokersMissing.
const seedBrokersLintMessage = `"field seed_brokers: at least one broker address is required"`

// enumLintRule replaces the stock enum lint so the error names the field;
// the stock message ("value X is not a valid option for this field") does not
// say which field when it is nested in a list.
func enumLintRule(field string, options ...string) string {
	quoted := make([]string, len(options))
	for i, o := range options {
		quoted[i] = strconv.Quote(o)
	}
	return fmt.Sprintf(`root = if ![%s].contains(this) {
  "field %s: value %%v is not a valid option, expected one of: %s".format(this)
}`, strings.Join(quoted, ", "), field, strings.Join(options, ", "))
}

// seedBrokersFromConfig flattens the seed_brokers list, splitting entries on
// commas and dropping empties, and fails when nothing is left.
func seedBrokersFromConfig(conf *service.ParsedConfig) ([]string, error) {
	raw, err := conf.FieldStringList(fieldSeedBrokers)
	if err != nil {
		return nil, err
	}
	var brokers []string
	for _, entry := range raw {
		for _, b := range strings.Split(entry, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("field %s: at least one broker address is required", fieldSeedBrokers)
	}
	return brokers, nil
}

// saslFromConfig builds the SASL mechanisms; an unknown mechanism is an error
// naming the field even when the config skipped linting.
func saslFromConfig(conf *service.ParsedConfig) ([]sasl.Mechanism, error) {
	if !conf.Contains(fieldSASL) {
		return nil, nil
	}
	list, err := conf.FieldObjectList(fieldSASL)
	if err != nil {
		return nil, err
	}
	var mechs []sasl.Mechanism
	for i, c := range list {
		mech, err := c.FieldString(fieldSASLMechanism)
		if err != nil {
			return nil, fmt.Errorf("field %s[%d].%s: %w", fieldSASL, i, fieldSASLMechanism, err)
		}
		user, err := c.FieldString(fieldSASLUsername)
		if err != nil {
			return nil, err
		}
		pass, err := c.FieldString(fieldSASLPassword)
		if err != nil {
			return nil, err
		}
		switch mech {
		case saslPlain:
			mechs = append(mechs, plain.Auth{User: user, Pass: pass}.AsMechanism())
		case saslScramSHA256:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())
		case saslScramSHA512:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
		default:
			return nil, fmt.Errorf("field %s[%d].%s: unsupported mechanism %q, expected one of %s, %s, %s",
				fieldSASL, i, fieldSASLMechanism, mech, saslPlain, saslScramSHA256, saslScramSHA512)
		}
	}
	return mechs, nil
}

// clientOptsFromConfig turns the shared connection fields into kgo options.
func clientOptsFromConfig(conf *service.ParsedConfig) ([]kgo.Opt, error) {
	brokers, err := seedBrokersFromConfig(conf)
	if err != nil {
		return nil, err
	}
	clientID, err := conf.FieldString(fieldClientID)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	if clientID != "" {
		opts = append(opts, kgo.ClientID(clientID))
	}

	tlsConf, tlsEnabled, err := conf.FieldTLSToggled(fieldTLS)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", fieldTLS, err)
	}
	netDialer, err := tcpDialer(conf.Namespace(fieldTCP))
	if err != nil {
		return nil, err
	}
	if tlsEnabled {
		// tls.Dialer takes the server name from the address when the config
		// has none, as franz-go's DialTLSConfig does.
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: netDialer, Config: tlsConf}).DialContext))
	} else {
		opts = append(opts, kgo.Dialer(netDialer.DialContext))
	}

	mechs, err := saslFromConfig(conf)
	if err != nil {
		return nil, err
	}
	if len(mechs) > 0 {
		opts = append(opts, kgo.SASL(mechs...))
	}

	// The bounds are franz-go's, checked here so that the error names the
	// field rather than failing later in NewClient; the metadata floor is
	// franz-go's minimum age between refreshes.
	durations := []struct {
		field    string
		min, max time.Duration
		opt      func(time.Duration) kgo.Opt
	}{
		{fieldMetadataMaxAge, 5 * time.Second, time.Hour, kgo.MetadataMaxAge},
		{fieldRequestTimeoutOverhead, 100 * time.Millisecond, 15 * time.Minute, kgo.RequestTimeoutOverhead},
		{fieldConnIdleTimeout, 100 * time.Millisecond, 15 * time.Minute, kgo.ConnIdleTimeout},
	}
	for _, d := range durations {
		v, err := durationField(conf, d.field, d.min, d.max)
		if err != nil {
			return nil, err
		}
		opts = append(opts, d.opt(v))
	}
	return opts, nil
}

// tcpDialer builds the dialer of the tcp fields.
func tcpDialer(conf *service.ParsedConfig) (*net.Dialer, error) {
	nonNegative := func(c *service.ParsedConfig, path, name string) (time.Duration, error) {
		v, err := c.FieldDuration(name)
		if err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, fmt.Errorf("field %s.%s: must not be negative, got %s", path, name, v)
		}
		return v, nil
	}
	d := &net.Dialer{Timeout: defaultDialTimeout}
	connect, err := nonNegative(conf, fieldTCP, fieldConnectTimeout)
	if err != nil {
		return nil, err
	}
	if connect > 0 {
		d.Timeout = connect
	}
	ka := conf.Namespace(fieldKeepAlive)
	kaPath := fieldTCP + "." + fieldKeepAlive
	d.KeepAliveConfig.Enable = true
	if d.KeepAliveConfig.Idle, err = nonNegative(ka, kaPath, fieldKeepAliveIdle); err != nil {
		return nil, err
	}
	if d.KeepAliveConfig.Interval, err = nonNegative(ka, kaPath, fieldKeepAliveInterval); err != nil {
		return nil, err
	}
	if d.KeepAliveConfig.Count, err = ka.FieldInt(fieldKeepAliveCount); err != nil {
		return nil, err
	}
	if d.KeepAliveConfig.Count < 0 {
		return nil, fmt.Errorf("field %s.%s: must not be negative, got %d", kaPath, fieldKeepAliveCount, d.KeepAliveConfig.Count)
	}
	user, err := nonNegative(conf, fieldTCP, fieldTCPUserTimeout)
	if err != nil {
		return nil, err
	}
	if user > 0 {
		if d.Control, err = userTimeoutControl(user); err != nil {
			return nil, fmt.Errorf("field %s.%s: %w", fieldTCP, fieldTCPUserTimeout, err)
		}
	}
	return d, nil
}

// durationField reads a duration field and checks it is within [min, max].
func durationField(conf *service.ParsedConfig, name string, minD, maxD time.Duration) (time.Duration, error) {
	v, err := conf.FieldDuration(name)
	if err != nil {
		return 0, err
	}
	if v < minD || v > maxD {
		return 0, fmt.Errorf("field %s: %s is out of range, expected between %s and %s", name, v, minD, maxD)
	}
	return v, nil
}

package generator

import (
	"regexp"
	"strings"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"
)

// The input is linted in Go, by the checks that run when it is built
// (parseInput), through a Bloblang method its lint rule calls. Benthos
// builds a Bloblang environment and parses the mapping of every lint rule
// when a spec is made, in every trstream process at start-up; mappings
// parse slowly (about 0.5 ms per check), so the thirty checks the fields
// had cost 37 ms of every start, `trstream --version` included. One short
// rule costs about 1 ms, and lint now reports exactly what the input would
// refuse at start, with the field named.

// lintMethodName is the Bloblang method behind lintRule.
const lintMethodName = "transaction_generator_lint"

// lintRule is the spec's lint rule: the input's configuration object (the
// fields as written, no defaults) goes to lintConfig.
const lintRule = `root = this.` + lintMethodName + `()`

func registerLintMethod() {
	spec := bloblang.NewPluginSpec().
		Category("Object & Array Manipulation").
		Description("Lints a `transaction_generator` input configuration object: returns the problem the input would refuse to start with, naming the field, or an empty array. It is what `trstream lint` runs for the input.")
	bloblang.MustRegisterMethodV2(lintMethodName, spec, func(*bloblang.ParsedParams) (bloblang.Method, error) {
		return func(v any) (any, error) { return lintConfig(v), nil }, nil
	})
}

// lintSpec is the input's spec without the lint rule, to parse configs
// with defaults, built on first lint.
var lintSpec = sync.OnceValue(func() *service.ConfigSpec { return generatorSpec(false) })

var docLine = regexp.MustCompile(`line [0-9]+: `)

// lintConfig returns the problems of the raw configuration v, as lint
// messages: a value of the wrong type, or else the first value the input
// would refuse.
func lintConfig(v any) []any {
	doc, err := yaml.Marshal(v)
	if err != nil {
		return nil
	}
	conf, err := lintSpec().ParseYAML(string(doc), nil)
	if err == nil {
		_, _, err = parseInput(conf)
	}
	if err != nil {
		// One line, without the line numbers of doc, which are not the
		// user's.
		msg := strings.Join(strings.Fields(err.Error()), " ")
		return []any{docLine.ReplaceAllString(msg, "")}
	}
	return []any{}
}
